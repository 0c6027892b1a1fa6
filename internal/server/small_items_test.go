package server

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// enrollNamed enrolls a host with a hostname, as an agent's enrollment would.
func enrollNamed(t *testing.T, ts *testServer, clock *fakeClock, id, hostname string) {
	t.Helper()
	ctx := context.Background()
	if err := ts.db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk-" + id, Hash: "h-" + id, Prefix: "p", ExpiresAt: clock.now().Add(time.Hour), CreatedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.EnrollHost(ctx, "h-"+id, store.Host{ID: id, Hostname: hostname, CertSerial: "s-" + id, CertNotAfter: clock.now().Add(time.Hour),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
}

// TestStaticSelectorsDoNotTakeInAnImpostor: group canary lists the
// hostnames canary-1 and canary-2; a second host enrolling as canary-1 was
// taken into the group (its windows, its team's rights, its changes).
func TestStaticSelectorsDoNotTakeInAnImpostor(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	enrollNamed(t, ts, clock, "host-canary", "canary-1")
	members := func() []string {
		var v GroupView
		if code := ts.call(t, "GET", "/api/v1/groups/canary", tok["admin"], nil, &v); code != 200 {
			t.Fatalf("show group: %d", code)
		}
		slices.Sort(v.Hosts)
		return v.Hosts
	}
	if got := members(); !slices.Equal(got, []string{"host-canary"}) {
		t.Fatalf("canary before the impostor: %v", got)
	}
	enrollNamed(t, ts, clock, "host-impostor", "canary-1")
	if got := members(); slices.Contains(got, "host-impostor") {
		t.Errorf("the impostor reporting hostname canary-1 joined group canary: %v", got)
	}
	// Applying says why canary-1 selects nothing and what to do.
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var res OrgApplyResult
	if code := ts.call(t, "POST", "/api/v1/org/apply?dry_run=true", tok["admin"], org, &res); code != 200 {
		t.Fatalf("dry run: %d", code)
	}
	want := "group canary: 2 hosts report the hostname canary-1 (host-canary, host-impostor), so it selects none of them; name the host by its ID"
	if !slices.Contains(res.Warnings, want) {
		t.Errorf("apply warnings %q lack %q", res.Warnings, want)
	}
	// Naming the host by its ID selects it, and only it.
	named := strings.Replace(string(org), "{hosts: [canary-1, canary-2]}", "{hosts: [host-canary, canary-2]}", 1)
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], []byte(named), &res); code != 200 {
		t.Fatalf("apply by ID: %d", code)
	}
	if got := members(); !slices.Equal(got, []string{"host-canary"}) {
		t.Errorf("canary named by ID: %v, want [host-canary]", got)
	}
	// Revoking the impostor makes the hostname unambiguous again.
	if err := ts.db.RevokeHost(context.Background(), "host-impostor", clock.now()); err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], org, &res); code != 200 {
		t.Fatalf("apply by hostname: %d", code)
	}
	if got := members(); !slices.Equal(got, []string{"host-canary"}) {
		t.Errorf("canary after the impostor was revoked: %v, want [host-canary]", got)
	}
}

// TestOnlyTheOwningTeamOrAnAdminRevokesACalendarURL: any non-auditor could
// revoke any team's calendar URL.
func TestOnlyTheOwningTeamOrAnAdminRevokesACalendarURL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	create := func(who, scope, name string) string {
		t.Helper()
		var v CalendarView
		if code := ts.call(t, "POST", "/api/v1/calendars", tok[who], []byte(`{"scope":"`+scope+`","name":"`+name+`"}`), &v); code != 201 {
			t.Fatalf("create calendar for %s %s: %d", scope, name, code)
		}
		return v.ID
	}
	revoke := func(who, id string) int {
		return ts.call(t, "POST", "/api/v1/calendars/"+id+"/revoke", tok[who], nil, nil)
	}
	// payments: alice (operator), bob (approver), carol (stakeholder);
	// platform: dave (admin), erin (security), frank (auditor).
	payments := create("alice", "team", "payments")
	if code := revoke("erin", payments); code != 403 {
		t.Errorf("erin (security in platform) revoked payments' calendar: %d, want 403", code)
	}
	if code := revoke("bob", payments); code != 200 {
		t.Errorf("bob (approver in payments) revoking payments' calendar: %d, want 200", code)
	}
	canary := create("erin", "group", "canary") // canary belongs to platform
	if code := revoke("alice", canary); code != 403 {
		t.Errorf("alice (operator in payments) revoked group canary's calendar: %d, want 403", code)
	}
	if code := revoke("erin", canary); code != 200 {
		t.Errorf("erin (security in platform) revoking canary's calendar: %d, want 200", code)
	}
	staging := create("alice", "group", "payments-staging")
	if code := revoke("admin", staging); code != 200 {
		t.Errorf("a global admin revoking a team's calendar: %d, want 200", code)
	}
	// The console follows the same rule.
	b := consoleBackend{ts.Server}
	other := create("alice", "team", "payments")
	if err := b.RevokeCalendarFeed(context.Background(), consoleUser("erin", RoleSecurity), other); err == nil {
		t.Error("the console let erin revoke payments' calendar")
	}
}

// TestAReportPeriodOutOfRangeIsAClear400: ?from=1000-01-01 panicked (the
// recovered panic gave an empty reply).
func TestAReportPeriodOutOfRangeIsAClear400(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.tokenFor(t, RoleAuditor)
	for _, tc := range []struct {
		query string
		want  int
		says  string
	}{
		{"from=1000-01-01", 400, "from 1000-01-01 is out of range"},
		{"to=9999-12-31", 400, "to 9999-12-31 is out of range"},
		{"from=2026-06-01&to=2026-05-01", 400, "from 2026-06-01 is after to 2026-05-01"},
		{"from=2016-01-01&to=2026-12-31", 400, "longer than"},
		{"from=2026-13-01", 400, "must be a date YYYY-MM-DD"},
		{"from=2026-01-01&to=2026-03-31", 200, ""},
		{"", 200, ""},
	} {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/report?"+tc.query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.says) {
			t.Errorf("%q: %d %.300s, want %d saying %q", tc.query, resp.StatusCode, body, tc.want, tc.says)
		}
	}
}

func TestTheConsoleRefusesAReportPeriodOutOfRange(t *testing.T) {
	ts := newTestServer(t)
	b := consoleBackend{ts.Server}
	from := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := b.Report(context.Background(), web.ReportQuery{From: from, To: from.AddDate(1, 0, 0)}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("console report from 1000-01-01: %v, want out of range", err)
	}
}

// TestReadyzSaysNotReadyWhileWritesFail: /readyz pinged the database and
// said ready while every write failed. Here another process holds the
// SQLite write lock, so reads answer and writes cannot happen.
func TestReadyzSaysNotReadyWhileWritesFail(t *testing.T) {
	ts := newTestServer(t)
	if code := ts.do(t, "GET", "/readyz", "", "").StatusCode; code != 200 {
		t.Fatalf("readyz on a healthy server: %d", code)
	}
	ctx := context.Background()
	other, err := sql.Open("sqlite", filepath.Join(ts.cfg.DataDir, "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	ts.ready.mu.Lock()
	ts.ready.last = time.Time{} // forget the healthy probe's result
	ts.ready.mu.Unlock()
	start := time.Now()
	if code := ts.do(t, "GET", "/readyz", "", "").StatusCode; code != 503 {
		t.Errorf("readyz while writes cannot happen: %d, want 503", code)
	}
	if took := time.Since(start); took > readyTimeout+2*time.Second {
		t.Errorf("readyz took %s to answer, want about %s", took, readyTimeout)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if code := ts.do(t, "GET", "/readyz", "", "").StatusCode; code != 200 {
		t.Errorf("readyz once writes work again: %d, want 200", code)
	}
}

// TestEmergencyStopReleaseNeedsAnotherUser: a second token without a user
// was taken as "another user" and released the stop.
func TestEmergencyStopReleaseNeedsAnotherUser(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	if code := ts.call(t, "POST", "/api/v1/emergency-stop", tok["alice"], []byte(`{"reason":"bad kernel"}`), nil); code != 200 {
		t.Fatalf("stop: %d", code)
	}
	userless := ts.tokenFor(t, RoleOperator) // a token that acts as no user
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", userless, nil, nil); code != 403 {
		t.Errorf("a token without a user released the stop: %d, want 403", code)
	}
	var again struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/tokens", tok["admin"], []byte(`{"name":"alice 2","role":"operator","user":"alice"}`), &again); code != 201 {
		t.Fatalf("second token for alice: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", again.Token, nil, nil); code != 403 {
		t.Errorf("alice's second token released her own stop: %d, want 403", code)
	}
	if !ts.Server.emergencyStopped(context.Background()) {
		t.Fatal("the stop was released")
	}
	olga := ts.userToken(t, "olga", RoleOperator)
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", olga, nil, nil); code != 200 {
		t.Errorf("another user releasing: %d, want 200", code)
	}
	// A stop pulled by a token without a user is released by any user.
	if code := ts.call(t, "POST", "/api/v1/emergency-stop", userless, nil, nil); code != 200 {
		t.Fatalf("stop by a userless token: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", tok["alice"], nil, nil); code != 200 {
		t.Errorf("a user releasing a userless token's stop: %d, want 200", code)
	}
}
