package server

import (
	"cmp"
	"context"
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
	v, err := s.createEnrollToken(r.Context(), principalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// createEnrollToken creates an enrollment token for p; the answer carries
// the secret, which is never shown again.
func (s *Server) createEnrollToken(ctx context.Context, p Principal, req api.CreateEnrollTokenRequest) (api.EnrollToken, error) {
	life, err := parseLife("expires", req.Expires, 24*time.Hour, maxEnrollTokenLife)
	if err != nil {
		return api.EnrollToken{}, err
	}
	if req.MaxHosts < 0 {
		return api.EnrollToken{}, errBadRequest("max_hosts must be 0 (unlimited) or more")
	}
	for k := range req.Labels {
		if !labelKeyRE.MatchString(k) {
			return api.EnrollToken{}, errBadRequest(fmt.Sprintf("label key %q is not valid", k))
		}
	}
	now := s.now()
	secret := randomSecret("", 24)
	t := store.EnrollToken{ID: uuid.NewString(), Hash: HashSecret(secret), Prefix: "PBE1." + secret[:6],
		MaxHosts: req.MaxHosts, ExpiresAt: now.Add(life), CreatedBy: p.UserID,
		CreatedAt: now, Labels: req.Labels}
	auditSummary(ctx, "enrollment token %s created for at most %d hosts, expiring %s", t.Prefix, t.MaxHosts, t.ExpiresAt.Format(time.RFC3339))
	if err := s.store.CreateEnrollToken(ctx, t); err != nil {
		return api.EnrollToken{}, err
	}
	v := s.enrollTokenView(t)
	v.Token = protocol.FormatEnrollToken(secret, s.ca.Fingerprint())
	return v, nil
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
	auditSummary(r.Context(), "enrollment token %s revoked", r.PathValue("id"))
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
	v, err := s.createAPIToken(r.Context(), principalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// createAPIToken creates an API token acting as p's user (or, for an
// admin, as req.User); the answer carries the secret, never shown again.
func (s *Server) createAPIToken(ctx context.Context, p Principal, req api.CreateAPITokenRequest) (api.APIToken, error) {
	if req.Name == "" || len(req.Name) > 128 {
		return api.APIToken{}, errBadRequest("name is required (at most 128 bytes)")
	}
	if !slices.Contains(Roles(), req.Role) {
		return api.APIToken{}, errBadRequest(fmt.Sprintf("role %q: use one of %v", req.Role, Roles()))
	}
	now := s.now()
	var expires *time.Time
	if req.Expires != "" {
		d, err := parseLife("expires", req.Expires, 0, 5*365*24*time.Hour)
		if err != nil {
			return api.APIToken{}, err
		}
		t := now.Add(d)
		expires = &t
	}
	userID := p.UserID
	if req.User != "" {
		if p.Role != RoleAdmin {
			return api.APIToken{}, errForbidden("only an admin may create a token for another user")
		}
		u, err := s.store.GetUserByName(ctx, req.User)
		if errors.Is(err, store.ErrNotFound) {
			return api.APIToken{}, errBadRequest(fmt.Sprintf("no user %q", req.User))
		}
		if err != nil {
			return api.APIToken{}, err
		}
		userID = u.ID
	}
	secret, tok := newAPIToken(req.Name, req.Role, userID, expires, now)
	auditSummary(ctx, "API token %q created with role %s for user %s", req.Name, req.Role, cmpOr(req.User, principalName(ctx, s)))
	if err := s.store.CreateAPIToken(ctx, tok); err != nil {
		return api.APIToken{}, err
	}
	v := apiTokenView(tok)
	if userID != "" {
		if u, err := s.store.GetUser(ctx, userID); err == nil {
			v.User = u.Username
		}
	}
	v.Token = secret
	return v, nil
}

func (s *Server) handleListAPITokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Username
	}
	page := api.Page[api.APIToken]{Items: []api.APIToken{}, Total: len(ts)}
	for _, t := range ts {
		v := apiTokenView(t)
		v.User = cmp.Or(names[t.UserID], t.UserID)
		page.Items = append(page.Items, v)
	}
	return writeJSON(w, 200, page)
}

func (s *Server) handleRevokeAPIToken(w http.ResponseWriter, r *http.Request) error {
	auditSummary(r.Context(), "%s revoked", s.describeAPIToken(r.Context(), r.PathValue("id")))
	if err := s.store.RevokeAPIToken(r.Context(), r.PathValue("id"), s.now()); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "revoked"})
}
