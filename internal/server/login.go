package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
)

// Login limits: this many failures per username or per client address
// within loginWindow refuse further attempts until the window passes.
const (
	loginMaxFailures = 5
	loginWindow      = 15 * time.Minute
	loginSessionTTL  = 12 * time.Hour
)

type loginLimiter struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

func (l *loginLimiter) blocked(now time.Time, keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		n := 0
		for _, t := range l.failures[k] {
			if now.Sub(t) < loginWindow {
				n++
			}
		}
		if n >= loginMaxFailures {
			return true
		}
	}
	return false
}

func (l *loginLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == nil {
		l.failures = map[string][]time.Time{}
	}
	for _, k := range keys {
		kept := l.failures[k][:0]
		for _, t := range l.failures[k] {
			if now.Sub(t) < loginWindow {
				kept = append(kept, t)
			}
		}
		l.failures[k] = append(kept, now)
	}
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
// repeated failures per user or address are refused for a while.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	now := s.now()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	keys := []string{"user:" + req.Username, "ip:" + ip}
	record := func(outcome string) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := s.audit.record(actx, audit.Entry{Actor: req.Username, Action: "login", Target: "from " + ip,
			RequestID: w.Header().Get("X-Request-ID"), Outcome: outcome}); err != nil {
			s.log.Error("audit append failed", "err", err)
		}
	}
	if s.logins.blocked(now, keys...) {
		record("denied: too many failures")
		return &Error{http.StatusTooManyRequests, "rate_limited", "too many failed sign-ins; wait 15 minutes"}
	}
	u, err := s.store.GetUserByName(r.Context(), req.Username)
	ok := false
	if err == nil && u.DisabledAt == nil {
		ok, _ = CheckPassword(u.PasswordHash, req.Password)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !ok {
		s.logins.fail(now, keys...)
		record("denied: bad credentials")
		return errUnauthorized("wrong username or password")
	}
	exp := now.Add(loginSessionTTL)
	secret, tok := newAPIToken(loginTokenName(u.Username), u.Role, u.ID, &exp, now)
	if err := s.store.CreateAPIToken(r.Context(), tok); err != nil {
		return err
	}
	record("ok")
	v := apiTokenView(tok)
	v.Token = secret
	return writeJSON(w, http.StatusCreated, v)
}
