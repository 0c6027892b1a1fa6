package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

const maxEnrollTokenLife = 365 * 24 * time.Hour

func parseLife(field, v string, def, max time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errBadRequest(fmt.Sprintf("%s %q: use a positive duration like 24h or 30m", field, v))
	}
	if d > max {
		return 0, errBadRequest(fmt.Sprintf("%s %s is longer than the maximum %s", field, d, max))
	}
	return d, nil
}

func (s *Server) enrollTokenView(t store.EnrollToken) api.EnrollToken {
	state := "active"
	switch {
	case t.RevokedAt != nil:
		state = "revoked"
	case !s.now().Before(t.ExpiresAt):
		state = "expired"
	case t.MaxHosts > 0 && t.Uses >= t.MaxHosts:
		state = "exhausted"
	}
	return api.EnrollToken{ID: t.ID, Prefix: t.Prefix, MaxHosts: t.MaxHosts, Uses: t.Uses, ExpiresAt: t.ExpiresAt,
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, RevokedAt: t.RevokedAt, Labels: t.Labels, State: state}
}

func (s *Server) handleCreateEnrollToken(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateEnrollTokenRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	life, err := parseLife("expires", req.Expires, 24*time.Hour, maxEnrollTokenLife)
	if err != nil {
		return err
	}
	if req.MaxHosts < 0 {
		return errBadRequest("max_hosts must be 0 (unlimited) or more")
	}
	for k := range req.Labels {
		if !labelKeyRE.MatchString(k) {
			return errBadRequest(fmt.Sprintf("label key %q is not valid", k))
		}
	}
	now := s.now()
	secret := randomSecret("", 24)
	t := store.EnrollToken{ID: uuid.NewString(), Hash: HashSecret(secret), Prefix: "PBE1." + secret[:6],
		MaxHosts: req.MaxHosts, ExpiresAt: now.Add(life), CreatedBy: principalFrom(r.Context()).UserID,
		CreatedAt: now, Labels: req.Labels}
	if err := s.store.CreateEnrollToken(r.Context(), t); err != nil {
		return err
	}
	v := s.enrollTokenView(t)
	v.Token = protocol.FormatEnrollToken(secret, s.ca.Fingerprint())
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleListEnrollTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListEnrollTokens(r.Context())
	if err != nil {
		return err
	}
	page := api.Page[api.EnrollToken]{Items: []api.EnrollToken{}, Total: len(ts)}
	for _, t := range ts {
		page.Items = append(page.Items, s.enrollTokenView(t))
	}
	return writeJSON(w, 200, page)
}

func (s *Server) handleRevokeEnrollToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.RevokeEnrollToken(r.Context(), r.PathValue("id"), s.now()); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "revoked"})
}

func apiTokenView(t store.APIToken) api.APIToken {
	return api.APIToken{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Role: t.Role, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) handleCreateAPIToken(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateAPITokenRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 128 {
		return errBadRequest("name is required (at most 128 bytes)")
	}
	if !slices.Contains(Roles(), req.Role) {
		return errBadRequest(fmt.Sprintf("role %q: use one of %v", req.Role, Roles()))
	}
	now := s.now()
	var expires *time.Time
	if req.Expires != "" {
		d, err := parseLife("expires", req.Expires, 0, 5*365*24*time.Hour)
		if err != nil {
			return err
		}
		t := now.Add(d)
		expires = &t
	}
	userID := principalFrom(r.Context()).UserID
	if req.User != "" {
		if principalFrom(r.Context()).Role != RoleAdmin {
			return errForbidden("only an admin may create a token for another user")
		}
		u, err := s.store.GetUserByName(r.Context(), req.User)
		if errors.Is(err, store.ErrNotFound) {
			return errBadRequest(fmt.Sprintf("no user %q", req.User))
		}
		if err != nil {
			return err
		}
		userID = u.ID
	}
	secret, tok := newAPIToken(req.Name, req.Role, userID, expires, now)
	if err := s.store.CreateAPIToken(r.Context(), tok); err != nil {
		return err
	}
	v := apiTokenView(tok)
	v.Token = secret
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleListAPITokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	page := api.Page[api.APIToken]{Items: []api.APIToken{}, Total: len(ts)}
	for _, t := range ts {
		page.Items = append(page.Items, apiTokenView(t))
	}
	return writeJSON(w, 200, page)
}

func (s *Server) handleRevokeAPIToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.RevokeAPIToken(r.Context(), r.PathValue("id"), s.now()); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "revoked"})
}
