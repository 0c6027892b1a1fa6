package web

import (
	"strings"
	"sync"
	"time"
)

// Sign-in failures allowed per username and per client address in a window.
const (
	loginMaxFailures = 5
	loginWindow      = 15 * time.Minute
	maxLimiterKeys   = 100_000
)

// loginLimiter counts recent sign-in failures per key ("user:NAME",
// "ip:ADDR") and refuses further tries once a key has too many.
type loginLimiter struct {
	now func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, failures: make(map[string][]time.Time)}
}

func limiterKeys(username, ip string) []string {
	u := strings.ToLower(username)
	if len(u) > 256 {
		u = u[:256]
	}
	return []string{"user:" + u, "ip:" + ip}
}

// blocked says whether any key has reached the limit within the window.
func (l *loginLimiter) blocked(username, ip string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range limiterKeys(username, ip) {
		if len(l.recentLocked(k, now)) >= loginMaxFailures {
			return true
		}
	}
	return false
}

// fail records one failure for the username and the address.
func (l *loginLimiter) fail(username, ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) >= maxLimiterKeys {
		for k := range l.failures {
			if len(l.recentLocked(k, now)) == 0 {
				delete(l.failures, k)
			}
		}
	}
	for _, k := range limiterKeys(username, ip) {
		l.failures[k] = append(l.recentLocked(k, now), now)
	}
}

// succeed forgets the username's failures; the address keeps its count so
// one valid account cannot be used to reset guessing at others.
func (l *loginLimiter) succeed(username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, limiterKeys(username, "")[0])
}

func (l *loginLimiter) recentLocked(k string, now time.Time) []time.Time {
	ts := l.failures[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.failures, k)
		return nil
	}
	l.failures[k] = ts
	return ts
}
