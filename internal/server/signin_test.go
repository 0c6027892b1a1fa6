package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// clientFrom is a client of ts whose connections come from the loopback
// address ip (Linux routes all of 127/8 to lo).
func (ts *testServer) clientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	tr := ts.client.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// apiLogin signs in over the API from c and returns the status.
func (ts *testServer) apiLogin(t testing.TB, c *http.Client, user, password string) int {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
	resp, err := c.Post(ts.url+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (ts *testServer) addUser(t testing.TB, name, role, password string) store.User {
	t.Helper()
	hash, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ts.db.CreateUser(context.Background(), store.User{ID: "u-" + name, Username: name, PasswordHash: hash, Role: role, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConcurrentWrongSignInsAreLimitedBeforeHashing: the issue sent 40
// wrong passwords at once and got 40 × 401 and 40 Argon2id hashes.
func TestConcurrentWrongSignInsAreLimitedBeforeHashing(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", RoleOperator, "correct horse battery")
	c := ts.clientFrom(t, "127.0.0.2")
	before := ts.signins.hashed.Load()
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			code := ts.apiLogin(t, c, "alice", "wrong guess")
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// At most 5 reach a hash, each a 401; on a loaded machine one may
	// wait past signinMaxWait for a hash slot and get 429 (busy) instead,
	// and is then not counted against the address.
	hashes := int(ts.signins.hashed.Load() - before)
	if hashes < 1 || hashes > signinPerUserAddr || codes[401] != hashes || codes[429] != 40-hashes {
		t.Errorf("40 concurrent wrong sign-ins: %v and %d hashes; want at most %d hashes, one 401 each, and the rest 429 (the limit is checked before hashing)",
			codes, hashes, signinPerUserAddr)
	}
	// The same address may still try other users, up to its own limit.
	others := 0
	for i := range signinPerAddr + 1 {
		code := ts.apiLogin(t, c, fmt.Sprintf("nobody%d", i), "guess")
		if code == 429 {
			break
		}
		if code != 401 {
			t.Fatalf("attempt for another user: %d", code)
		}
		others++
	}
	if hashes+others != signinPerAddr {
		t.Errorf("one address made %d + %d attempts before 429, want %d in all", hashes, others, signinPerAddr)
	}
	// Another address signs alice in at once.
	if code := ts.apiLogin(t, ts.clientFrom(t, "127.0.0.3"), "alice", "correct horse battery"); code != 201 {
		t.Errorf("alice from another address: %d, want 201", code)
	}
}

// TestUnknownAndDisabledUsersCostOneHash: a real user's name answered in
// ~800 ms and an unknown one in ~10 ms, which told which accounts exist.
func TestUnknownAndDisabledUsersCostOneHash(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", RoleOperator, "correct horse battery")
	u := ts.addUser(t, "dora", RoleOperator, "correct horse battery")
	if err := ts.db.DisableUser(context.Background(), u.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, password string }{
		{"alice", "wrong guess"},
		{"no-such-user", "wrong guess"},
		{"dora", "correct horse battery"},
		{strings.Repeat("x", 300), "wrong guess"},
	} {
		before := ts.signins.hashed.Load()
		if code := ts.apiLogin(t, ts.client, tc.user, tc.password); code != 401 {
			t.Errorf("%.20s: %d, want 401", tc.user, code)
		}
		if n := ts.signins.hashed.Load() - before; n != 1 {
			t.Errorf("%.20s: %d hashes, want 1", tc.user, n)
		}
	}
}

// consoleBrowser is a cookie-keeping client of ts's console from c that
// does not follow redirects.
func (ts *testServer) consoleBrowser(c *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	cc := *c
	cc.Jar = jar
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

var csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consolePost loads page with b, then posts form to action with the
// page's CSRF token, and returns the status.
func (ts *testServer) consolePost(t testing.TB, b *http.Client, page, action string, form url.Values) int {
	t.Helper()
	resp, err := b.Get(ts.url + page)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	m := csrfFieldRE.FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no CSRF token on %s (%d)", page, resp.StatusCode)
	}
	form.Set("csrf", m[1])
	req, _ := http.NewRequest("POST", ts.url+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.url)
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// consoleSignIn signs in on the console's form from c and returns the
// status: 303 signed in, 401 wrong, 429 limited.
func (ts *testServer) consoleSignIn(t testing.TB, c *http.Client, user, password string) int {
	t.Helper()
	return ts.consolePost(t, ts.consoleBrowser(c), "/login", "/login", url.Values{"username": {user}, "password": {password}})
}

// TestWrongCurrentPasswordsCountAgainstTheSignInLimits: a stolen console
// session cannot be used to guess the password on the password form.
func TestWrongCurrentPasswordsCountAgainstTheSignInLimits(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", RoleOperator, "correct horse battery")
	b := ts.consoleBrowser(ts.clientFrom(t, "127.0.0.6"))
	if code := ts.consolePost(t, b, "/login", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}); code != 303 {
		t.Fatalf("sign in: %d", code)
	}
	change := func(current string) int {
		return ts.consolePost(t, b, "/settings", "/settings/password", url.Values{"current": {current},
			"new": {"another long passphrase"}, "confirm": {"another long passphrase"}})
	}
	for i := range signinPerUserAddr {
		if code := change("wrong guess"); code != 403 {
			t.Fatalf("wrong current password %d: %d, want 403", i+1, code)
		}
	}
	if code := change("correct horse battery"); code != 429 {
		t.Errorf("the right current password after %d wrong ones: %d, want 429", signinPerUserAddr, code)
	}
	if code := ts.apiLogin(t, ts.clientFrom(t, "127.0.0.6"), "alice", "correct horse battery"); code != 429 {
		t.Errorf("API sign-in from the same address after the guesses: %d, want 429", code)
	}
}

// TestTheAPIAndTheConsoleShareOneSignInLimiter: the console had a second,
// separate limiter, so each path gave its own five tries.
func TestTheAPIAndTheConsoleShareOneSignInLimiter(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", RoleOperator, "correct horse battery")
	c := ts.clientFrom(t, "127.0.0.4")
	for i := range 3 {
		if code := ts.apiLogin(t, c, "alice", "wrong guess"); code != 401 {
			t.Fatalf("API failure %d: %d", i, code)
		}
	}
	for i := range 2 {
		if code := ts.consoleSignIn(t, c, "alice", "wrong guess"); code != 401 {
			t.Fatalf("console failure %d: %d", i, code)
		}
	}
	if code := ts.consoleSignIn(t, c, "alice", "correct horse battery"); code != 429 {
		t.Errorf("console sign-in after 3 API and 2 console failures: %d, want 429", code)
	}
	if code := ts.apiLogin(t, c, "alice", "correct horse battery"); code != 429 {
		t.Errorf("API sign-in after 5 failures: %d, want 429", code)
	}
	if code := ts.consoleSignIn(t, ts.clientFrom(t, "127.0.0.5"), "alice", "correct horse battery"); code != 303 {
		t.Errorf("console sign-in from another address: %d, want 303", code)
	}
}

// TestAnAttackerElsewhereCannotLockAUserOut: five failures from anywhere
// locked a user out for 15 minutes. Now failures from other addresses
// slow only the addresses that made them.
func TestAnAttackerElsewhereCannotLockAUserOut(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	ts.addUser(t, "alice", RoleOperator, "correct horse battery")
	// Two attacker addresses fail 5 times each: alice is under attack.
	for _, ip := range []string{"127.0.1.1", "127.0.1.2"} {
		c := ts.clientFrom(t, ip)
		for range signinPerUserAddr {
			if code := ts.apiLogin(t, c, "alice", "wrong guess"); code != 401 {
				t.Fatalf("attack from %s: %d", ip, code)
			}
		}
		if code := ts.apiLogin(t, c, "alice", "wrong guess"); code != 429 {
			t.Errorf("sixth attempt from %s: %d, want 429", ip, code)
		}
	}
	// A third address gets one try, then shares the slow lane with every
	// address that already tried alice: one attempt per signinSlowEvery.
	third := ts.clientFrom(t, "127.0.1.3")
	for i := range 2 {
		if code := ts.apiLogin(t, third, "alice", "wrong guess"); code != 401 {
			t.Errorf("attempt %d from a third address: %d, want 401", i+1, code)
		}
	}
	if code := ts.apiLogin(t, third, "alice", "wrong guess"); code != 429 {
		t.Errorf("third attempt from a third address within the slow interval: %d, want 429", code)
	}
	// Alice, from her own address, with the right password: signed in.
	home := ts.clientFrom(t, "127.0.2.1")
	if code := ts.apiLogin(t, home, "alice", "correct horse battery"); code != 201 {
		t.Fatalf("alice from her address while under attack: %d, want 201", code)
	}
	// She mistypes once, then gets it right: her address tried alice, so
	// under attack it is slowed to one attempt per signinSlowEvery.
	if code := ts.apiLogin(t, home, "alice", "typo"); code != 401 {
		t.Fatalf("typo: %d", code)
	}
	if code := ts.apiLogin(t, home, "alice", "correct horse battery"); code != 429 {
		t.Errorf("second attempt within %s while alice is under attack: %d, want 429", signinSlowEvery, code)
	}
	clock.advance(signinSlowEvery)
	if code := ts.apiLogin(t, home, "alice", "correct horse battery"); code != 201 {
		t.Errorf("after %s: %d, want 201", signinSlowEvery, code)
	}
	// The attackers' addresses stay limited until their window ends.
	if code := ts.apiLogin(t, ts.clientFrom(t, "127.0.1.1"), "alice", "wrong guess"); code != 429 {
		t.Errorf("attacker after the slow interval: %d, want 429", code)
	}
	clock.advance(signinWindow)
	if code := ts.apiLogin(t, ts.clientFrom(t, "127.0.1.1"), "alice", "correct horse battery"); code != 201 {
		t.Errorf("after the window: %d, want 201", code)
	}
}

func TestSignInCountersAreBounded(t *testing.T) {
	l := newSigninLimiter()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range signinMaxKeys + 500 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		tk, err := l.admit(now, fmt.Sprintf("user%d", i), addr)
		if err != nil {
			t.Fatal(err)
		}
		l.finish(now, tk, signinFailed)
	}
	if a, ua, u := l.addr.len(), l.userAddr.len(), l.user.len(); a != signinMaxKeys || ua != signinMaxKeys || u != signinMaxKeys {
		t.Errorf("keys held: address %d, user+address %d, user %d; want %d each", a, ua, u, signinMaxKeys)
	}
	// The most recent keys are kept.
	last := signinMaxKeys + 499
	if _, ok := l.addr.get(fmt.Sprintf("10.%d.%d.%d", last>>16&255, last>>8&255, last&255)); !ok {
		t.Error("the newest address was evicted")
	}
	if _, ok := l.addr.get("10.0.0.0"); ok {
		t.Error("the oldest address was kept")
	}
	if got := signinAddrKey("[2001:db8:1:2:3:4:5:6]:443"); got != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key: %s", got)
	}
}

func TestHashGateServesFreshCallersFirstAndGivesUp(t *testing.T) {
	g := newHashGate(1, 2)
	ctx := context.Background()
	if !g.acquire(ctx, false, time.Second) {
		t.Fatal("the free slot was not taken")
	}
	got := make(chan string, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		if g.acquire(ctx, false, 5*time.Second) {
			got <- "second"
			g.release()
		}
	})
	for g.waiting(1) != 1 {
		runtime.Gosched() // until the waiter is queued
	}
	wg.Go(func() {
		if g.acquire(ctx, true, 5*time.Second) {
			got <- "fresh"
			g.release()
		}
	})
	for g.waiting(0) != 1 {
		runtime.Gosched()
	}
	g.release()
	wg.Wait()
	if a, b := <-got, <-got; a != "fresh" || b != "second" {
		t.Errorf("order: %s, %s; want the fresh caller first", a, b)
	}
	// A full queue refuses at once; a waiter gives up after its wait.
	if !g.acquire(ctx, false, time.Second) {
		t.Fatal("slot")
	}
	if g.acquire(ctx, false, 10*time.Millisecond) {
		t.Error("a taken slot was given to a second caller")
	}
	g.release()
	if !g.acquire(ctx, false, time.Second) {
		t.Error("the slot given up by a timed-out waiter was lost")
	}
}
