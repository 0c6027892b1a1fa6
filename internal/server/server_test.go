package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/store"
)

type testServer struct {
	*Server
	url    string
	client *http.Client
	db     *store.DB
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerAt(t, time.Now)
}

// newTestServerAt runs a server whose clock is now, on SQLite in its data
// directory, with its engine loop.
func newTestServerAt(t testing.TB, clock func() time.Time, opts ...func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	for _, o := range opts {
		o(&cfg)
	}
	return startTestServer(t, cfg, "sqlite:"+filepath.Join(cfg.DataDir, "test.db"), clock)
}

// startTestServer bootstraps cfg's data directory, opens the store at
// dbURL and serves the API over loopback TLS until the test ends; the
// server's background work is waited for before the store closes.
func startTestServer(t testing.TB, cfg Config, dbURL string, clock func() time.Time) *testServer {
	t.Helper()
	cfg.FeedSources = nil                 // no internet in tests; feed sync has its own test
	id, err := Bootstrap(cfg, time.Now()) // real time: the TLS client checks the certificates against it
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(cfg, db, id, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(s.Wait) // runs after cancel and before db.Close (cleanups run last-in first-out)
	t.Cleanup(cancel)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.TLS = s.TLSConfig()
	hs.StartTLS()
	t.Cleanup(hs.Close)
	tr := &http.Transport{TLSClientConfig: hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	tr.TLSClientConfig.RootCAs = id.CA.Pool()
	tr.TLSClientConfig.ServerName = "localhost"
	return &testServer{Server: s, url: hs.URL, client: &http.Client{Transport: tr}, db: db}
}

// tokenFor creates an API token with a role.
func (ts *testServer) tokenFor(t *testing.T, role string) string {
	t.Helper()
	secret, tok := newAPIToken("test "+role, role, "", nil, time.Now())
	if err := ts.db.CreateAPIToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

// send makes one request with client c (ts.client when nil) and a bearer
// token (none when ""), and returns the response with its body read.
func (ts *testServer) send(t testing.TB, c *http.Client, method, path, token string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = ts.client
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp, b
}

func (ts *testServer) do(t *testing.T, method, path, token, body string) *http.Response {
	t.Helper()
	resp, _ := ts.send(t, nil, method, path, token, []byte(body))
	return resp
}

func TestEveryRouteDeclaresAKnownPermission(t *testing.T) {
	ts := newTestServer(t)
	known := map[Permission]bool{PermPublic: true, PermAgent: true, PermEnrollToken: true, PermHostsRead: true,
		PermHostsWrite: true, PermHostsRevoke: true, PermEnrollManage: true, PermTokensManage: true, PermMetricsRead: true,
		PermVulnsRead: true, PermFeedsRead: true, PermFeedsManage: true,
		PermUsersManage: true, PermOrgRead: true, PermOrgApply: true, PermCalendars: true, PermCalendarToken: true,
		PermExceptionsRead: true, PermExceptionsRequest: true, PermExceptionsApprove: true, PermAuditRead: true,
		PermChangesRead: true, PermChangesCreate: true, PermChangesApprove: true, PermChangesRun: true, PermLogin: true,
		PermSignOff: true, PermRetroWrite: true, PermKBRead: true, PermKBWrite: true, PermReportRead: true,
		PermNotifyRead: true, PermNotifyManage: true, PermReleasesUpload: true}
	for _, rt := range ts.routes {
		if !known[rt.Perm] {
			t.Errorf("%s %s declares unknown permission %q", rt.Method, rt.Path, rt.Perm)
		}
	}
}

// TestRoutesAuthorizeEveryRole walks the whole route table: each route is
// called without credentials, with a bad token, and with a token of every
// role, and the answer must match the hand-written permission matrix of
// permissions_test.go.
func TestRoutesAuthorizeEveryRole(t *testing.T) {
	ts := newTestServer(t)
	// Tokens of users: some routes (the emergency stop's release) need a
	// person behind the token, and the route table must still hold.
	tokens := map[string]string{}
	for _, r := range Roles() {
		tokens[r] = ts.userToken(t, "walk-"+r, r)
	}
	for _, rt := range ts.routes {
		path := strings.NewReplacer("{id}", uuid.NewString(), "{name}", "no-such-group", "{token}", "pbc_forged.ics").Replace(rt.Path)
		name := rt.Method + " " + rt.Path
		switch rt.Perm {
		case PermPublic:
			if resp := ts.do(t, rt.Method, path, "", ""); resp.StatusCode != 200 {
				t.Errorf("%s: public route answered %d", name, resp.StatusCode)
			}
			continue
		case PermAgent:
			if resp := ts.do(t, rt.Method, path, tokens[RoleAdmin], "{}"); resp.StatusCode != 401 {
				t.Errorf("%s: agent route without a client certificate answered %d, want 401", name, resp.StatusCode)
			}
			continue
		case PermLogin:
			if resp := ts.do(t, rt.Method, path, "", `{"username":"nobody","password":"x"}`); resp.StatusCode != 401 {
				t.Errorf("%s: bad credentials answered %d, want 401", name, resp.StatusCode)
			}
			continue
		case PermCalendarToken:
			if resp := ts.do(t, rt.Method, path, "", ""); resp.StatusCode != 404 {
				t.Errorf("%s: calendar with a forged token answered %d, want 404", name, resp.StatusCode)
			}
			continue
		case PermEnrollToken:
			if resp := ts.do(t, rt.Method, path, "", `{"token":"PBE1.x.`+strings.Repeat("00", 32)+`","csr":"","hostname":"h"}`); resp.StatusCode < 400 {
				t.Errorf("%s: enrollment without a valid token answered %d", name, resp.StatusCode)
			}
			continue
		}
		if resp := ts.do(t, rt.Method, path, "", "{}"); resp.StatusCode != 401 {
			t.Errorf("%s without a token: %d, want 401", name, resp.StatusCode)
		}
		if resp := ts.do(t, rt.Method, path, "pbt_forged", "{}"); resp.StatusCode != 401 {
			t.Errorf("%s with a forged token: %d, want 401", name, resp.StatusCode)
		}
		for _, role := range Roles() {
			resp := ts.do(t, rt.Method, path, tokens[role], "{}")
			allowed := matrixAllows(t, role, rt.Perm)
			if allowed && (resp.StatusCode == 401 || resp.StatusCode == 403) {
				t.Errorf("%s as %s: refused with %d, but the role holds %s", name, role, resp.StatusCode, rt.Perm)
			}
			if !allowed && resp.StatusCode != 403 {
				t.Errorf("%s as %s: answered %d, want 403 (role lacks %s)", name, role, resp.StatusCode, rt.Perm)
			}
		}
	}
}

func TestRevokedAndExpiredAPITokensAreRefused(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	secret, tok := newAPIToken("old", RoleAdmin, "", &past, time.Now().Add(-time.Hour))
	if err := ts.db.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if resp := ts.do(t, "GET", "/api/v1/hosts", secret, ""); resp.StatusCode != 401 {
		t.Errorf("expired token: %d, want 401", resp.StatusCode)
	}
	live := ts.tokenFor(t, RoleAdmin)
	if resp := ts.do(t, "GET", "/api/v1/hosts", live, ""); resp.StatusCode != 200 {
		t.Fatalf("live token: %d", resp.StatusCode)
	}
	toks, err := ts.db.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range toks {
		if string(k.Hash) == string(HashSecret(live)) {
			if err := ts.db.RevokeAPIToken(ctx, k.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(string(k.Hash), live) {
			t.Errorf("token secret stored in clear")
		}
	}
	if resp := ts.do(t, "GET", "/api/v1/hosts", live, ""); resp.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
}

func TestPasswordHashesVerifyAndDiffer(t *testing.T) {
	h1, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse")
	if h1 == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	if ok, err := CheckPassword(h1, "correct horse"); !ok || err != nil {
		t.Errorf("right password refused: %v %v", ok, err)
	}
	if ok, _ := CheckPassword(h1, "wrong horse"); ok {
		t.Error("wrong password accepted")
	}
}
