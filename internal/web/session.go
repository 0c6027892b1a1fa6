package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Session lifetimes. A session ends at whichever comes first.
const (
	sessionIdle     = 30 * time.Minute
	sessionAbsolute = 12 * time.Hour
	sessionCookie   = "pb_session"
	// maxSessions bounds memory: anonymous sign-in sessions are created by
	// anyone who loads /login.
	maxSessions = 100_000
)

var errTooManySessions = errors.New("too many sessions")

// session is the server-side state behind one pb_session cookie. UserID is
// empty for the anonymous session that carries the sign-in form's CSRF token.
type session struct {
	UserID   string
	Epoch    string // the user's epoch at sign-in (User.Epoch)
	CSRF     string
	Created  time.Time
	LastSeen time.Time
}

// sessionStore keeps sessions in memory, keyed by the SHA-256 of the cookie
// value so the map never holds a usable secret.
type sessionStore struct {
	now func() time.Time

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{now: now, m: make(map[[32]byte]*session)}
}

// randomToken returns 256 random bits, URL-safe base64 encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its cookie value.
func (s *sessionStore) create(userID string) (string, session, error) {
	return s.createFor(User{ID: userID})
}

// createFor starts a session of u, bound to u's epoch.
func (s *sessionStore) createFor(u User) (string, session, error) {
	id := randomToken()
	now := s.now()
	sess := &session{UserID: u.ID, Epoch: u.Epoch, CSRF: randomToken(), Created: now, LastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.pruneLocked(now)
		if len(s.m) >= maxSessions {
			return "", session{}, errTooManySessions
		}
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, *sess, nil
}

// get returns the live session for a cookie value and marks it used. An
// expired session is deleted.
func (s *sessionStore) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[key]
	if !ok {
		return session{}, false
	}
	if expired(sess, now) {
		delete(s.m, key)
		return session{}, false
	}
	sess.LastSeen = now
	return *sess, true
}

func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *sessionStore) pruneLocked(now time.Time) {
	for k, sess := range s.m {
		if expired(sess, now) {
			delete(s.m, k)
		}
	}
}

func expired(s *session, now time.Time) bool {
	return now.Sub(s.LastSeen) >= sessionIdle || now.Sub(s.Created) >= sessionAbsolute
}

// setSessionCookie writes the pb_session cookie. It has no Max-Age: the
// server enforces the lifetimes, and the browser drops it when it closes.
func (c *console) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   c.opt.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

func (c *console) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   c.opt.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}
