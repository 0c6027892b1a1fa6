package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

type hostKey struct{}

// hostFrom is the host of an agent request, as store.AgentHost reads it:
// ID, hostname, certificate, revocation and revision, no facts or labels.
func hostFrom(ctx context.Context) store.Host {
	h, _ := ctx.Value(hostKey{}).(store.Host)
	return h
}

// agentHost identifies the host behind a request from its verified client
// certificate alone: the CommonName is the host ID, and the serial must be
// the host's current certificate (or the one it replaced, while a renewal
// is in flight). Revoked hosts are refused.
func (s *Server) agentHost(r *http.Request) (store.Host, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return store.Host{}, errUnauthorized("agent endpoints need the host's client certificate (mutual TLS)")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	id := leaf.Subject.CommonName
	// Only the columns agent requests use (store.AgentHost): handlers
	// behind this read no facts or labels from hostFrom.
	h, err := s.store.AgentHost(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("agent refused: unknown host", "host", id, "remote", r.RemoteAddr)
		return store.Host{}, errForbidden("unknown host; enroll again")
	}
	if err != nil {
		return store.Host{}, err
	}
	if h.RevokedAt != nil {
		s.log.Warn("agent refused: host revoked", "host", id, "remote", r.RemoteAddr)
		return store.Host{}, &Error{http.StatusForbidden, "revoked", "this host has been revoked; enroll it again with a new token"}
	}
	serial := pki.SerialString(leaf)
	if serial != h.CertSerial && serial != h.PrevCertSerial {
		s.log.Warn("agent refused: superseded certificate", "host", id, "serial", serial, "remote", r.RemoteAddr)
		return store.Host{}, errForbidden("this certificate has been superseded; use the host's current certificate")
	}
	return h, nil
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) error {
	var req protocol.EnrollRequest
	if err := decodeAgentJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if req.ProtocolVersion > protocol.Version {
		return errBadRequest("agent speaks a newer protocol than this server; upgrade the server")
	}
	secret, _, err := protocol.ParseEnrollToken(req.Token)
	if err != nil {
		return errBadRequest(err.Error())
	}
	if req.Hostname == "" || len(req.Hostname) > 255 {
		return errBadRequest("hostname is required (at most 255 bytes)")
	}
	if err := checkLabels(req.Labels); err != nil {
		return errBadRequest("labels: " + err.Error() + " (the agent's labels: in agent.yaml, or --label)")
	}
	now := s.now()
	id := uuid.NewString()
	certPEM, cert, err := s.ca.SignClient([]byte(req.CSR), id, now, s.cfg.AgentCertTTL)
	if err != nil {
		return errBadRequest(err.Error())
	}
	auditSummary(r.Context(), "host %s enrolled as %s", req.Hostname, id)
	h, err := s.store.EnrollHost(r.Context(), HashSecret(secret), store.Host{
		ID: id, Hostname: req.Hostname, CertSerial: pki.SerialString(cert), CertNotAfter: cert.NotAfter,
		EnrolledAt: now, LastSeenAt: now, UserLabels: req.Labels,
	}, now)
	if err != nil {
		var ee *store.EnrollError
		if errors.As(err, &ee) {
			s.log.Warn("enrollment refused", "reason", ee.Reason, "remote", r.RemoteAddr, "hostname", req.Hostname)
		}
		return err
	}
	s.log.Info("host enrolled", "host", h.ID, "hostname", h.Hostname, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusCreated, protocol.EnrollResponse{
		HostID: h.ID, Certificate: string(certPEM), CA: string(s.ca.PEM), JobKey: s.JobPublicKey(),
		CheckinInterval: int(s.cfg.CheckinInterval / time.Second),
	})
}

func (s *Server) handleCheckin(w http.ResponseWriter, r *http.Request) error {
	h := hostFrom(r.Context())
	var req protocol.CheckinRequest
	if err := decodeAgentJSON(w, r, protocol.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		s.log.Warn("check-in refused", "host", h.ID, "reason", err)
		return err
	}
	c := store.Checkin{Facts: req.Facts, Full: req.Full, BaseRevision: req.BaseRevision, Packages: req.Packages,
		Upserts: req.Upserts, Removes: req.Removes, UpdatesChanged: req.UpdatesChanged, Problems: req.Problems}
	for _, u := range req.Updates {
		c.Updates = append(c.Updates, store.Update{Name: u.Name, Arch: u.Arch, Version: u.Version, Repo: u.Repo})
	}
	resp := protocol.CheckinResponse{CheckinInterval: int(s.cfg.CheckinInterval / time.Second)}
	rev, err := s.store.ApplyCheckin(r.Context(), h.ID, c, s.now())
	switch {
	case errors.Is(err, store.ErrRevisionMismatch):
		resp.NeedFull = true
		resp.Revision = h.Revision
	case err != nil:
		return err
	default:
		resp.Revision = rev
		if rev != h.Revision || req.UpdatesChanged {
			// The check-in marked its host in its own transaction.
			s.vulns.poke()
		}
	}
	jobs, err := s.store.OpenJobs(r.Context(), h.ID, s.now(), jobGate())
	if err != nil {
		return err
	}
	for _, j := range jobs {
		var env protocol.Envelope
		if err := json.Unmarshal(j.Envelope, &env); err != nil {
			return fmt.Errorf("job %s: %w", j.ID, err)
		}
		resp.Jobs = append(resp.Jobs, env)
	}
	s.metrics.checkins.WithLabelValues(checkinKind(req, resp)).Inc()
	resp.RenewBefore = h.CertNotAfter.Add(-s.cfg.AgentCertTTL / 2)
	return writeJSON(w, 200, resp)
}

func checkinKind(req protocol.CheckinRequest, resp protocol.CheckinResponse) string {
	switch {
	case resp.NeedFull:
		return "need_full"
	case req.Full:
		return "full"
	}
	return "delta"
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) error {
	h := hostFrom(r.Context())
	var req protocol.RenewRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	certPEM, cert, err := s.ca.SignClient([]byte(req.CSR), h.ID, s.now(), s.cfg.AgentCertTTL)
	if err != nil {
		return errBadRequest(err.Error())
	}
	if err := s.store.RenewHostCert(r.Context(), h.ID, pki.SerialString(cert), cert.NotAfter); err != nil {
		return err
	}
	s.log.Info("host certificate renewed", "host", h.ID, "not_after", cert.NotAfter)
	return writeJSON(w, 200, protocol.RenewResponse{Certificate: string(certPEM)})
}
