package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// Sign-in limits, shared by the API (/api/v1/auth/login), the console's
// sign-in and the console's password change. docs/architecture.md "Trust"
// quotes them. Attempts are counted when they start, before any hashing,
// so concurrent attempts cannot slip past a limit.
const (
	signinWindow = 15 * time.Minute
	// signinPerUserAddr attempts per (username, address) per window: past
	// it, that pair waits for the window to end. A success forgets the
	// pair's attempts.
	signinPerUserAddr = 5
	// signinPerAddr attempts per address per window, for any usernames.
	signinPerAddr = 20
	// signinUserUnderAttack failures of one username per window, from
	// anywhere, slow that username down: addresses that already tried it
	// get one attempt per signinSlowEvery between them all. An address
	// that has not tried it yet is not slowed, so an attacker elsewhere
	// cannot keep the user out of their own sign-in (throttle, not lock).
	signinUserUnderAttack = 10
	signinSlowEvery       = 10 * time.Second
	// signinHashSlots Argon2id hashes run at once (64 MiB each); the
	// others wait up to signinMaxWait in one of two queues of at most
	// signinMaxQueued, addresses without recent attempts first, then 429.
	signinHashSlots = 2
	signinMaxQueued = 16
	signinMaxWait   = 5 * time.Second
	// signinMaxKeys bounds each counter map; the least recently used key
	// is evicted first.
	signinMaxKeys = 10_000
)

// signinLimiter holds the counters of the sign-in limits and the hash
// slots. All memory it holds is bounded by signinMaxKeys per map.
type signinLimiter struct {
	mu       sync.Mutex
	userAddr *boundedMap[string, *signinWindowCount]
	addr     *boundedMap[string, *signinWindowCount]
	user     *boundedMap[string, *signinUserCount]

	hashes    hashGate
	dummyOnce sync.Once
	dummy     string
	hashed    atomic.Int64 // password hashes computed, for tests and metrics
}

type signinWindowCount struct {
	n     int
	start time.Time
}

// at returns the count in the window that holds now, starting a new one
// when the last has passed.
func (w *signinWindowCount) at(now time.Time) *signinWindowCount {
	if now.Sub(w.start) >= signinWindow || now.Before(w.start) {
		w.n, w.start = 0, now
	}
	return w
}

type signinUserCount struct {
	failures signinWindowCount
	nextSlow time.Time
}

func newSigninLimiter() *signinLimiter {
	return &signinLimiter{
		userAddr: newBoundedMap[string, *signinWindowCount](signinMaxKeys),
		addr:     newBoundedMap[string, *signinWindowCount](signinMaxKeys),
		user:     newBoundedMap[string, *signinUserCount](signinMaxKeys),
		hashes:   newHashGate(signinHashSlots, signinMaxQueued),
	}
}

// signinTicket is one admitted attempt.
type signinTicket struct {
	user, addr string
	fresh      bool // the address had no counted attempt in its window
}

// errThrottled is a 429 that says when to try again.
func errThrottled(msg string, retry time.Duration) error {
	return &Error{http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("%s; try again in %s", msg, retry.Round(time.Second))}
}

// errSigninBusy: every hash slot stayed taken for signinMaxWait.
var errSigninBusy = &Error{http.StatusTooManyRequests, "rate_limited", "the server is busy checking other sign-ins; try again in a few seconds"}

// admit checks every limit for an attempt by user from addr and, if none
// refuses, counts it.
func (l *signinLimiter) admit(now time.Time, user, addr string) (signinTicket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.windowFor(l.addr, addr).at(now)
	if a.n >= signinPerAddr {
		return signinTicket{}, errThrottled("too many sign-in attempts from your address", a.start.Add(signinWindow).Sub(now))
	}
	ua := l.windowFor(l.userAddr, user+"\x00"+addr).at(now)
	if ua.n >= signinPerUserAddr {
		return signinTicket{}, errThrottled("too many sign-in attempts for this user from your address", ua.start.Add(signinWindow).Sub(now))
	}
	u, ok := l.user.get(user)
	if !ok {
		u = &signinUserCount{}
		l.user.put(user, u)
	}
	if u.failures.at(now).n >= signinUserUnderAttack && ua.n > 0 {
		if now.Before(u.nextSlow) {
			return signinTicket{}, errThrottled("too many failed sign-ins for this user", u.nextSlow.Sub(now))
		}
		u.nextSlow = now.Add(signinSlowEvery)
	}
	t := signinTicket{user: user, addr: addr, fresh: a.n == 0}
	a.n++
	ua.n++
	return t, nil
}

func (l *signinLimiter) windowFor(m *boundedMap[string, *signinWindowCount], k string) *signinWindowCount {
	w, ok := m.get(k)
	if !ok {
		w = &signinWindowCount{}
		m.put(k, w)
	}
	return w
}

type signinOutcome int

const (
	signinFailed   signinOutcome = iota
	signinOK                     // forget the pair's attempts, give the address its attempt back
	signinNotTried               // the attempt never reached a hash: give it back
)

// finish records how an admitted attempt ended.
func (l *signinLimiter) finish(now time.Time, t signinTicket, o signinOutcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	giveBack := func(m *boundedMap[string, *signinWindowCount], k string) {
		if w, ok := m.get(k); ok && w.n > 0 {
			w.n--
		}
	}
	switch o {
	case signinOK:
		l.userAddr.delete(t.user + "\x00" + t.addr)
		giveBack(l.addr, t.addr)
	case signinNotTried:
		giveBack(l.userAddr, t.user+"\x00"+t.addr)
		giveBack(l.addr, t.addr)
	case signinFailed:
		if u, ok := l.user.get(t.user); ok {
			u.failures.at(now).n++
		}
	}
}

// dummyHash is hashed against when the user does not exist or is
// disabled, so every sign-in costs one Argon2id hash.
func (l *signinLimiter) dummyHash() string {
	l.dummyOnce.Do(func() {
		h, err := HashPassword(randomSecret("", 18))
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		l.dummy = h
	})
	return l.dummy
}

// signinUserKey is the limiter's key for a username as typed: usernames
// are lower-case and at most 63 bytes, so anything longer is one key.
func signinUserKey(username string) string {
	u := strings.ToLower(username)
	if len(u) > 64 {
		u = u[:64]
	}
	return u
}

// signinAddrKey is the limiter's key for a client address: the address,
// or for IPv6 its /64, which one client usually holds whole.
func signinAddrKey(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if ip.To4() != nil {
		return ip.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// errBadCredentials: the one answer to a wrong username, a wrong password
// and a disabled user.
var errBadCredentials = errUnauthorized("wrong username or password")

// signIn checks username and password for a request from addr under the
// sign-in limits: the limits are checked before hashing, at most
// signinHashSlots hashes run at once, and an unknown or disabled user
// costs the same hash as a known one. Errors: a 429 *Error when limited,
// errBadCredentials when wrong.
func (s *Server) signIn(ctx context.Context, username, password, addr string) (store.User, error) {
	l := s.signins
	t, err := l.admit(s.now(), signinUserKey(username), signinAddrKey(addr))
	if err != nil {
		return store.User{}, err
	}
	outcome := signinNotTried
	defer func() { l.finish(s.now(), t, outcome) }()
	if !l.hashes.acquire(ctx, t.fresh, signinMaxWait) {
		return store.User{}, errSigninBusy
	}
	defer l.hashes.release()
	u, err := s.store.GetUserByName(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	known := err == nil && u.DisabledAt == nil
	hash := u.PasswordHash
	if !known {
		hash = l.dummyHash()
	}
	match, err := CheckPassword(hash, password)
	if err != nil {
		// A hash we cannot read still costs the same time.
		CheckPassword(l.dummyHash(), password)
	}
	l.hashed.Add(1)
	if !known || !match {
		outcome = signinFailed
		return store.User{}, errBadCredentials
	}
	outcome = signinOK
	return u, nil
}
