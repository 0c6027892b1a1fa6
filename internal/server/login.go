package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net"
	"net/http"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
)

// loginSessionTTL is the life of the API token a sign-in issues.
const loginSessionTTL = 12 * time.Hour

// consoleCSRFKey signs the console sign-in form's CSRF cookie. It is
// derived from the job key, so every replica sharing the data directory's
// keys accepts the forms of the others.
func (s *Server) consoleCSRFKey() []byte {
	m := hmac.New(sha256.New, s.jobKey.Seed())
	m.Write([]byte("patchbay console sign-in csrf"))
	return m.Sum(nil)
}

// loginTokenName names the 12-hour API token a sign-in issues to username.
func loginTokenName(username string) string { return "session " + username }

// LoginRequest signs a user in.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// handleLogin exchanges a username and password for a session API token
// valid for 12 hours, with the user's role. Every attempt is audited;
// attempts are limited by signIn, the same limits as the console's.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	record := func(outcome string) {
		e := audit.Entry{Actor: req.Username, Action: "login", Target: "from " + ip,
			RequestID: w.Header().Get("X-Request-ID"), Outcome: outcome}
		if outcome != "ok" {
			s.refusals.record(r.Context(), e, r.RemoteAddr)
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := s.audit.record(actx, e); err != nil {
			s.log.Error("audit append failed", "err", err)
		}
	}
	u, err := s.signIn(r.Context(), req.Username, req.Password, r.RemoteAddr)
	if err != nil {
		switch e := errorResponse(err); e.Status {
		case http.StatusTooManyRequests:
			record("denied: too many failures")
		case http.StatusUnauthorized:
			record("denied: bad credentials")
		}
		return err
	}
	now := s.now()
	exp := now.Add(loginSessionTTL)
	secret, tok := newAPIToken(loginTokenName(u.Username), u.Role, u.ID, &exp, now)
	if err := s.store.CreateAPIToken(r.Context(), tok); err != nil {
		return err
	}
	record("ok")
	v := apiTokenView(tok)
	v.User = u.Username
	v.Token = secret
	return writeJSON(w, http.StatusCreated, v)
}
