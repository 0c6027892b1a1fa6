package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apognu/gocal"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// userToken creates a user with a fleet-wide role and a token acting as them.
func (ts *testServer) userToken(t testing.TB, name, role string) string {
	t.Helper()
	u, err := ts.db.CreateUser(context.Background(), store.User{ID: "u-" + name, Username: name, PasswordHash: "x", Role: role, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	secret, tok := newAPIToken(name, role, u.ID, nil, time.Now())
	if err := ts.db.CreateAPIToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

func (ts *testServer) call(t testing.TB, method, path, token string, body []byte, out any) int {
	t.Helper()
	resp, b := ts.send(t, nil, method, path, token, body)
	if out != nil && resp.StatusCode < 300 {
		if w, ok := out.(*[]byte); ok {
			*w = b
		} else if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s → %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// paymentsUpdates are what the payments hosts' repositories offer: the
// versions the tests' changes and findings name.
var paymentsUpdates = []store.Update{{Name: "openssl", Arch: "amd64", Version: "3.0.2-0ubuntu1.9", Repo: "jammy-security"},
	{Name: "bash", Arch: "amd64", Version: "5.1-6ubuntu1", Repo: "jammy-updates"}}

// orgServer is a server with the example organisation applied, its users,
// and one host in payments-prod with two open findings.
func orgServer(t *testing.T, clock *fakeClock, opts ...func(*Config)) (*testServer, map[string]string, string) {
	t.Helper()
	ts := newTestServerAt(t, clock.now, opts...)
	tokens := map[string]string{"admin": ts.tokenFor(t, RoleAdmin)}
	for name, role := range map[string]string{"alice": RoleOperator, "bob": RoleApprover, "carol": RoleStakeholder,
		"dave": RoleAdmin, "erin": RoleSecurity, "frank": RoleAuditor} {
		tokens[name] = ts.userToken(t, name, role)
	}
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var res OrgApplyResult
	if code := ts.call(t, "POST", "/api/v1/org/apply", tokens["admin"], org, &res); code != 200 || res.Revision != 1 {
		t.Fatalf("apply: %d %+v", code, res)
	}
	ctx := context.Background()
	db := ts.db
	db.ImportFeed(ctx, store.FeedImport{Status: store.FeedStatus{Name: "f", Kind: "osv"}, Advisories: []store.Advisory{
		{ID: "A-1", Source: "osv", Severity: "high", Data: []byte(`{}`), CVEs: []string{"CVE-2024-0001"}},
		{ID: "A-2", Source: "osv", Severity: "low", Data: []byte(`{}`)}}}, clock.now())
	db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk", Hash: "h", Prefix: "p", ExpiresAt: clock.now().Add(time.Hour), CreatedAt: clock.now(),
		Labels: map[string]string{"app": "payments", "env": "prod"}})
	if _, err := db.EnrollHost(ctx, "h", store.Host{ID: "host-1", Hostname: "pay-1", CertSerial: "s", CertNotAfter: clock.now().Add(time.Hour),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	facts := inventory.Facts{Hostname: "pay-1", OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, Arch: "x86_64", PackageFormat: inventory.FormatDpkg}
	db.ApplyCheckin(ctx, "host-1", store.Checkin{Facts: facts, Full: true, Packages: []inventory.Package{
		{Name: "openssl", Version: "3.0.2-0ubuntu1", Arch: "amd64"}, {Name: "bash", Version: "5.1-6", Arch: "amd64"}},
		Updates: paymentsUpdates}, clock.now())
	ts.Server.vulns.index.Put() // nothing: matches are injected below
	tuples, _ := db.UnmatchedTuples(ctx, "host-1", "ubuntu", "22.04")
	res2 := map[int64][]match.Match{}
	for _, tu := range tuples {
		res2[tu.PVID] = []match.Match{{AdvisoryID: map[string]string{"openssl": "A-1", "bash": "A-2"}[tu.Name],
			Fixed: map[string]string{"openssl": "3.0.2-0ubuntu1.9", "bash": "5.1-6ubuntu1"}[tu.Name]}}
	}
	db.SaveMatches(ctx, "ubuntu", "22.04", res2)
	if _, err := db.ReconcileFindings(ctx, "host-1", "ubuntu", "22.04", func(string, string) bool { return false }, clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Rescore(ctx, "", ts.Server.vulns.score); err != nil {
		t.Fatal(err)
	}
	return ts, tokens, "host-1"
}

func TestApplyIsAllOrNothingAndIdempotent(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	var exported []byte
	ts.call(t, "GET", "/api/v1/org", tok["frank"], nil, &exported)
	var res OrgApplyResult
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], exported, &res); code != 200 || len(res.Changes) != 0 || res.Revision != 1 {
		t.Fatalf("applying the export: %d %+v", code, res)
	}
	// Bad files change nothing and name the field.
	for name, body := range map[string]string{
		"unknown field": strings.Replace(string(exported), "      criticality: 5\n", "      criticality: 5\n      critcality: 4\n", 1),
		"bad rrule":     strings.Replace(string(exported), "FREQ=MONTHLY;BYDAY=2TU", "FREQ=SOMETIMES", 1),
		"bad tz":        strings.Replace(string(exported), "tz: Europe/Berlin", "tz: Mars/Olympus", 1),
		"unknown user":  strings.Replace(string(exported), "user: bob", "user: mallory", 1),
	} {
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/org/apply", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok["admin"])
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
		want := map[string]string{"unknown field": "critcality", "bad rrule": "rrule", "bad tz": "Mars/Olympus", "unknown user": "mallory"}[name]
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: error does not name %q: %s", name, want, b)
		}
	}
	var after []byte
	ts.call(t, "GET", "/api/v1/org", tok["frank"], nil, &after)
	if !bytes.Equal(after, exported) {
		t.Error("a refused apply changed the organisation")
	}
	// Leaving a group out needs --prune; the dry run says so.
	text := string(exported)
	start, end := strings.Index(text, "    - name: public-web"), strings.Index(text, "rings:")
	if start < 0 || end < start {
		t.Fatalf("unexpected export layout:\n%s", text)
	}
	cut := text[:start] + text[end:]
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], []byte(cut), nil); code != 409 {
		t.Errorf("apply without a group and without prune: %d, want 409", code)
	}
	var dry OrgApplyResult
	if code := ts.call(t, "POST", "/api/v1/org/apply?dry_run=true&prune=true", tok["admin"], []byte(cut), &dry); code != 200 ||
		len(dry.Changes) != 1 || dry.Changes[0].Kind != "delete" || dry.Changes[0].Name != "public-web" {
		t.Errorf("dry run with prune: %d %+v", code, dry)
	}
	if code := ts.call(t, "POST", "/api/v1/org/apply?prune=true", tok["admin"], []byte(cut), &res); code != 200 || res.Revision != 2 {
		t.Errorf("apply with prune: %d %+v", code, res)
	}
	// Only admins apply.
	if code := ts.call(t, "POST", "/api/v1/org/apply?prune=true", tok["dave"], exported, &res); code != 200 || res.Revision != 3 {
		t.Errorf("admin user apply: %d %+v", code, res)
	}
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["erin"], exported, nil); code != 403 {
		t.Errorf("security user apply: %d, want 403", code)
	}
}

func TestGroupsDriveScoringWindowsAndCalendar(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	ctx := context.Background()
	fs, _, _ := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host})
	for _, f := range fs {
		// payments-prod overrides critical to 7 days; high stays 30 (team).
		if f.AdvisoryID == "A-1" && (f.DueAt == nil || f.DueAt.Sub(f.FirstSeenAt) != 30*24*time.Hour || !strings.Contains(f.DueReason, "payments-prod")) {
			t.Errorf("A-1 due %v (%s)", f.DueAt, f.DueReason)
		}
	}
	// The host's next windows: second Tuesday + 3 days, 22:00 Berlin.
	var w struct {
		Groups []string     `json:"groups"`
		Items  []HostWindow `json:"items"`
	}
	if code := ts.call(t, "GET", "/api/v1/hosts/"+host+"/windows?n=3", tok["carol"], nil, &w); code != 200 {
		t.Fatal(code)
	}
	// 2nd Tuesdays: Dec 8 2026, Jan 12 2027, Feb 9 2027; +3 days; 22:00 CET = 21:00 UTC.
	want := []string{"2026-12-11T21:00:00Z", "2027-01-15T21:00:00Z", "2027-02-12T21:00:00Z"}
	if len(w.Items) != 3 || len(w.Groups) != 1 || w.Groups[0] != "payments-prod" {
		t.Fatalf("windows: %+v", w)
	}
	for i, it := range w.Items {
		if it.Start.Format(time.RFC3339) != want[i] || it.HostStart.Before(it.Start) || it.HostStart.Sub(it.Start) >= 30*time.Minute {
			t.Errorf("window %d: %+v, want start %s", i, it, want[i])
		}
	}
	// A secret calendar URL serves an ICS an independent parser reads.
	var cal CalendarView
	if code := ts.call(t, "POST", "/api/v1/calendars", tok["carol"], []byte(`{"scope":"team","name":"payments"}`), &cal); code != 201 {
		t.Fatal(code)
	}
	if code := ts.call(t, "POST", "/api/v1/calendars", tok["frank"], []byte(`{"scope":"team","name":"payments"}`), nil); code != 403 {
		t.Errorf("auditor created a calendar: %d", code)
	}
	path := cal.URL[strings.Index(cal.URL, "/calendar/"):]
	resp, err := ts.client.Get(ts.url + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") {
		t.Fatalf("calendar: %d %s", resp.StatusCode, body)
	}
	from, to := clock.now().AddDate(0, 0, -7), clock.now().AddDate(0, 0, 90)
	p := gocal.NewParser(bytes.NewReader(body))
	p.Start, p.End = &from, &to
	if err := p.Parse(); err != nil {
		t.Fatal(err)
	}
	var tuesday, mornings, freezes int
	for _, e := range p.Events {
		switch {
		case strings.Contains(e.Summary, "patch-tuesday"):
			tuesday++
		case strings.Contains(e.Summary, "weekday-mornings"):
			mornings++
		case strings.Contains(strings.ToLower(e.Summary), "freeze") || strings.Contains(e.Summary, "year-end"):
			freezes++
		}
	}
	// Nov 18 – Feb 23: patch-tuesday+3 on Nov 13? no (before), Dec 11, Jan 15, Feb 12 → 3;
	// weekday mornings every weekday; the global year-end freeze.
	if tuesday != 3 || mornings < 60 || freezes < 1 {
		t.Errorf("calendar events: %d patch-tuesday, %d weekday-mornings, %d freezes\n%s", tuesday, mornings, freezes, body[:min(len(body), 600)])
	}
	// Revoked: gone.
	ts.call(t, "POST", "/api/v1/calendars/"+cal.ID+"/revoke", tok["carol"], nil, nil)
	if resp, _ := ts.client.Get(ts.url + path); resp.StatusCode != 404 {
		t.Errorf("revoked calendar answered %d", resp.StatusCode)
	}
}

func TestExceptionsNeedAnotherApproverAndExpire(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	ctx := context.Background()
	var ex ExceptionView
	body := []byte(`{"group":"payments-prod","advisory":"A-1","justification":"WAF rule blocks the vector","expires":"72h"}`)
	if code := ts.call(t, "POST", "/api/v1/exceptions", tok["alice"], body, &ex); code != 201 || ex.State != "pending" || ex.Team != "payments" {
		t.Fatalf("request: %d %+v", code, ex)
	}
	// Bad requests: no expiry, expiry in the past, someone outside the team.
	for _, b := range []string{`{"group":"payments-prod","advisory":"A-1","justification":"x"}`,
		`{"group":"payments-prod","advisory":"A-1","justification":"x","expires":"2020-01-01T00:00:00Z"}`} {
		if code := ts.call(t, "POST", "/api/v1/exceptions", tok["alice"], []byte(b), nil); code != 400 {
			t.Errorf("bad exception %s: %d", b, code)
		}
	}
	if code := ts.call(t, "POST", "/api/v1/exceptions", tok["erin"], body, nil); code != 403 {
		t.Errorf("security user of another team requested: %d, want 403", code)
	}
	// The requester cannot approve; an approver of the team can.
	if code := ts.call(t, "POST", "/api/v1/exceptions/"+ex.ID+"/approve", tok["erin"], nil, nil); code != 403 {
		t.Errorf("approval by a member of another team: %d, want 403", code)
	}
	if code := ts.call(t, "POST", "/api/v1/exceptions/"+ex.ID+"/approve", tok["bob"], nil, &ex); code != 200 || ex.State != "active" || ex.ApprovedBy != "bob" {
		t.Fatalf("approve: %d %+v", code, ex)
	}
	yes, no := true, false
	if got, _, _ := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host, Excepted: &yes}); len(got) != 1 || got[0].AdvisoryID != "A-1" {
		t.Fatalf("excepted findings: %+v", got)
	}
	// The self-approval rule holds for a requester with the approver role.
	var ex2 ExceptionView
	ts.call(t, "POST", "/api/v1/exceptions", tok["bob"], []byte(`{"group":"payments-prod","package":"bash","justification":"legacy","expires":"24h"}`), &ex2)
	if code := ts.call(t, "POST", "/api/v1/exceptions/"+ex2.ID+"/approve", tok["bob"], nil, nil); code != 403 {
		t.Errorf("self-approval: %d, want 403", code)
	}
	// Time passes: the exception expires, the finding is back, owners are told.
	clock.advance(71 * time.Hour)
	ts.Server.ExpireExceptions(ctx)
	if got, _, _ := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host, Excepted: &yes}); len(got) != 1 {
		t.Fatalf("expired too early: %+v", got)
	}
	clock.advance(2 * time.Hour)
	if err := ts.Server.ExpireExceptions(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host, Excepted: &no}); len(got) != 2 {
		t.Fatalf("after expiry, open unexcepted findings: %+v", got)
	}
	ns, _ := ts.db.ListOutbox(ctx, store.OutboxFilter{Kind: "exception.expired", Channel: "console"})
	var told []string
	for _, n := range ns {
		told = append(told, n.Recipient)
	}
	slices.Sort(told)
	if !slices.Contains(told, "carol") {
		t.Fatalf("exception expiry told %q, want carol (stakeholder) among them", told)
	}
	var list struct {
		Items []ExceptionView `json:"items"`
	}
	ts.call(t, "GET", "/api/v1/exceptions?state=expired", tok["frank"], nil, &list)
	if len(list.Items) < 1 {
		t.Errorf("expired exceptions listed: %+v", list)
	}
}

func TestTeamOwnedHostsAreChangedOnlyByTheirTeam(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	// alice is an operator of payments, which owns host-1; a fleet-wide
	// operator outside the team is refused.
	other := ts.userToken(t, "oscar", RoleOperator)
	body := []byte(`{"labels":{"app":"payments","env":"prod","role":"primary"}}`)
	if code := ts.call(t, "PUT", "/api/v1/hosts/"+host+"/labels", other, body, nil); code != 403 {
		t.Errorf("operator outside the team: %d, want 403", code)
	}
	if code := ts.call(t, "PUT", "/api/v1/hosts/"+host+"/labels", tok["alice"], body, nil); code != 200 {
		t.Errorf("operator of the owning team: %d, want 200", code)
	}
}

func TestMetricsShowFindingsAndFeeds(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	var body []byte
	if code := ts.call(t, "GET", "/metrics", tok["frank"], nil, &body); code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{`patchbay_findings_open{severity="high"} 1`, `patchbay_findings_open{severity="low"} 1`,
		`patchbay_findings_overdue 0`, `patchbay_feed_age_seconds{feed="f"} 0`, `patchbay_hosts 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	clock.advance(31 * 24 * time.Hour)
	ts.call(t, "GET", "/metrics", tok["frank"], nil, &body)
	if !strings.Contains(string(body), "patchbay_findings_overdue 1") {
		t.Errorf("after 31 days the high finding (30-day SLA) is not overdue:\n%s", body)
	}
}

func TestAuditTrailRecordsAndDetectsTampering(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock) // the org apply is entry 1
	for i := range 5 {
		ts.call(t, "POST", "/api/v1/tokens", tok["admin"], []byte(`{"name":"t`+string(rune('a'+i))+`","role":"auditor"}`), nil)
	}
	ts.call(t, "POST", "/api/v1/org/apply", tok["erin"], []byte("teams: []\n"), nil) // denied: recorded too
	var v AuditVerifyResult
	if code := ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v); code != 200 || !v.OK || v.Entries != 7 {
		t.Fatalf("verify: %d %+v", code, v)
	}
	var list struct {
		Items []struct {
			Seq     uint64 `json:"seq"`
			Actor   string `json:"actor"`
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
		} `json:"items"`
	}
	ts.call(t, "GET", "/api/v1/audit?from=1&limit=100", tok["frank"], nil, &list)
	last := list.Items[len(list.Items)-1]
	if list.Items[0].Action != "POST /api/v1/org/apply" || last.Actor != "erin" || last.Outcome != "denied" {
		t.Fatalf("entries: %+v", list.Items)
	}
	var syslog []byte
	ts.call(t, "GET", "/api/v1/audit/export?format=syslog", tok["frank"], nil, &syslog)
	if n := strings.Count(string(syslog), "\n"); n != 7 || !strings.Contains(string(syslog), "patchbay@") {
		t.Fatalf("syslog export (%d lines):\n%s", n, syslog)
	}
	// Someone edits entry 3 in the database: verify names it.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(ts.Server.cfg.DataDir, "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET entry = replace(entry, '"outcome":"ok"', '"outcome":"denied"') WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v)
	if v.OK || v.Problem == nil || v.Problem.Seq != 3 {
		t.Fatalf("edited entry 3: %+v %+v", v, v.Problem)
	}
	// Deleting the edited entry instead is caught at the entry after the gap.
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v)
	if v.OK || v.Problem == nil || v.Problem.Seq != 4 || v.Problem.Kind != "deleted" {
		t.Fatalf("deleted entry 3: %+v", v.Problem)
	}
}

// TestEveryMutatingRouteWritesAnAuditEntry walks the route table: each
// route that changes something, called by an admin, adds exactly one audit
// entry (whatever the outcome), and so does a refused call.
func TestEveryMutatingRouteWritesAnAuditEntry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	count := func() int {
		n := 0
		ts.db.AuditRange(ctx, 0, 0, func(store.AuditRecord) error { n++; return nil })
		return n
	}
	checked := 0
	for _, rt := range ts.routes {
		if rt.Method == "GET" || rt.Perm == PermAgent || rt.Perm == PermPublic {
			continue
		}
		path := strings.NewReplacer("{id}", "00000000-0000-0000-0000-000000000000", "{name}", "no-such", "{token}", "x").Replace(rt.Path)
		before := count()
		ts.call(t, rt.Method, path, tok["admin"], []byte("{}"), nil)
		if got := count(); got != before+1 {
			t.Errorf("%s %s: %d audit entries written, want 1", rt.Method, rt.Path, got-before)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d mutating routes found", checked)
	}
	before := count()
	ts.call(t, "POST", "/api/v1/org/apply", tok["frank"], []byte("teams: []"), nil)
	if count() != before+1 {
		t.Error("a refused call was not audited")
	}
}

func TestLoginIsAuditedAndRateLimited(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	hash, _ := HashPassword("correct horse")
	ts.db.CreateUser(context.Background(), store.User{ID: "u1", Username: "alice", PasswordHash: hash, Role: RoleOperator, CreatedAt: clock.now()})
	login := func(pw string) int {
		return ts.call(t, "POST", "/api/v1/auth/login", "", []byte(`{"username":"alice","password":"`+pw+`"}`), nil)
	}
	var tok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	if code := ts.call(t, "POST", "/api/v1/auth/login", "", []byte(`{"username":"alice","password":"correct horse"}`), &tok); code != 201 || tok.Role != RoleOperator {
		t.Fatalf("login: %d %+v", code, tok)
	}
	if code := ts.call(t, "GET", "/api/v1/hosts", tok.Token, nil, nil); code != 200 {
		t.Errorf("session token refused: %d", code)
	}
	for i := range 5 {
		if code := login("wrong"); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code := login("correct horse"); code != 429 {
		t.Errorf("after 5 failures the right password answered %d, want 429", code)
	}
	clock.advance(16 * time.Minute)
	if code := login("correct horse"); code != 201 {
		t.Errorf("after the window: %d", code)
	}
	// Repeated refusals are counted, and the count written when their
	// minute has passed (refusals.go).
	ts.refusals.flush(context.Background(), false)
	var outcomes []string
	ts.db.AuditRange(context.Background(), 0, 0, func(r store.AuditRecord) error {
		var e struct{ Action, Actor, Outcome string }
		json.Unmarshal(r.Entry, &e)
		if e.Action == "login" {
			outcomes = append(outcomes, e.Outcome)
		}
		return nil
	})
	want := []string{"ok", "denied: bad credentials", "denied: too many failures", "ok",
		"denied: bad credentials (repeated 4 times from 127.0.0.1 between 12:00:00 and 12:00:00)"}
	if !slices.Equal(outcomes, want) {
		t.Errorf("login audit:\n got %q\nwant %q", outcomes, want)
	}
}

func TestEmergencyStopNeedsASecondUserAndAuditKeepsBeforeAfter(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	var res map[string]any
	if code := ts.call(t, "POST", "/api/v1/emergency-stop", tok["alice"], []byte(`{"reason":"bad kernel"}`), &res); code != 200 || res["stopped"] != true {
		t.Fatalf("stop: %d %v", code, res)
	}
	if !ts.Server.emergencyStopped(context.Background()) {
		t.Fatal("flag not set")
	}
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", tok["alice"], nil, nil); code != 403 {
		t.Errorf("the same user released the stop: %d", code)
	}
	other := ts.userToken(t, "olga", RoleOperator)
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", other, nil, nil); code != 200 {
		t.Errorf("second user release: %d", code)
	}
	// The org apply in orgServer recorded its before and after revisions.
	var first struct {
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	ts.db.AuditRange(context.Background(), 1, 1, func(r store.AuditRecord) error { return json.Unmarshal(r.Entry, &first) })
	if string(first.Before) != `{"revision":0}` || !strings.Contains(string(first.After), `"revision":1`) {
		t.Errorf("apply audit before/after: %s / %s", first.Before, first.After)
	}
}

func TestChangeNotificationsReachTheWebhookSigned(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	type received struct{ kind, recipient, role, key string }
	got := make(chan received, 10)
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// The receiver's check, written out: t=UNIX,v1=HMAC-SHA256(secret, "UNIX.body"), within 5 minutes.
		var ts, v1 string
		for _, p := range strings.Split(r.Header.Get("X-Patchbay-Signature"), ",") {
			if v, ok := strings.CutPrefix(p, "t="); ok {
				ts = v
			} else if v, ok := strings.CutPrefix(p, "v1="); ok {
				v1 = v
			}
		}
		mac := hmac.New(sha256.New, []byte("s3cret"))
		mac.Write([]byte(ts + "." + string(b)))
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if v1 != hex.EncodeToString(mac.Sum(nil)) || clock.now().Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			t.Errorf("bad signature %q on %s", r.Header.Get("X-Patchbay-Signature"), b)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n struct {
			Schema    string `json:"schema"`
			Key       string `json:"idempotency_key"`
			Recipient struct{ User, Role string }
			Event     struct{ Kind string }
		}
		json.Unmarshal(b, &n)
		if n.Schema != "patchbay.notification/v1" || n.Key != r.Header.Get("Idempotency-Key") {
			t.Errorf("payload %s", b)
		}
		got <- received{n.Event.Kind, n.Recipient.User, n.Recipient.Role, n.Key}
	}))
	defer hook.Close()
	ts, tok, _ := orgServer(t, clock, func(c *Config) {
		c.WebhookURL, c.WebhookSecret = hook.URL+"/hook", "s3cret"
		c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.NotifyRoots = hook.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	})
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`), &ch); code != 201 {
		t.Fatal(code)
	}
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["alice"], nil, nil); code != 403 {
		t.Errorf("author approved: %d", code)
	}
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
	// Pending approval: the team's approver and the author; approved: the
	// author (also the group's sysadmin) and the group's stakeholder.
	want := []string{"change.approved alice author", "change.approved carol stakeholder",
		"change.pending-approval alice author", "change.pending-approval bob approver"}
	var seen []string
	keys := map[string]bool{}
	for range want {
		select {
		case r := <-got:
			seen = append(seen, r.kind+" "+r.recipient+" "+r.role)
			keys[r.key] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("received %q, want %q", seen, want)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, want) || len(keys) != 4 {
		t.Errorf("received %q (%d keys), want %q", seen, len(keys), want)
	}
	// The delivery log has them delivered, beside the console's record.
	var list struct {
		Items []NotificationView `json:"items"`
	}
	// The receiver answers before the worker records it: wait for the record.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ts.call(t, "GET", "/api/v1/notifications?channel=webhook&status=delivered", tok["erin"], nil, &list)
		if len(list.Items) == 4 {
			break
		}
	}
	if len(list.Items) != 4 {
		t.Fatalf("delivery log: %+v", list.Items)
	}
	for _, n := range list.Items {
		if n.Status != "delivered" || n.Attempts != 1 || n.Delivered == nil {
			t.Errorf("delivery log entry %+v", n)
		}
	}
	if code := ts.call(t, "GET", "/api/v1/notifications", tok["carol"], nil, nil); code != 403 {
		t.Errorf("a stakeholder read the delivery log: %d", code)
	}
}

func TestAutoApprovalRulesApplyAndSaySo(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	// host-1 moves to payments-staging (ring pilot), where the payments
	// team's rule sec-high-test approves security changes of high severity
	// three days after release.
	if code := ts.call(t, "PUT", "/api/v1/hosts/"+host+"/labels", tok["alice"], []byte(`{"labels":{"app":"payments","env":"staging"}}`), nil); code != 200 {
		t.Fatal(code)
	}
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"A-1","groups":["payments-staging"],"advisories":["A-1"]}`), &ch); code != 201 {
		t.Fatal(code)
	}
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, &ch); code != 200 || ch.State != ChangeApproved || ch.ApprovedBy != "auto-approval rule sec-high-test" {
		t.Fatalf("submit: %d %s by %q", code, ch.State, ch.ApprovedBy)
	}
	// The low finding does not qualify: it waits for a person.
	var ch2 ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"A-2","groups":["payments-staging"],"advisories":["A-2"]}`), &ch2)
	ts.call(t, "POST", "/api/v1/changes/"+ch2.ID+"/submit", tok["alice"], nil, &ch2)
	if ch2.State != ChangePendingApproval {
		t.Errorf("low-severity change: %s by %q", ch2.State, ch2.ApprovedBy)
	}
}

func TestEditingAnApprovedChangeVoidsTheApproval(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	spec := `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, &ch)
	if ch.State != ChangeApproved {
		t.Fatalf("approve: %s", ch.State)
	}
	// The repositories offer .9 only: the edit forces .10.
	edited := strings.Replace(spec, `"3.0.2-0ubuntu1.9"}]`, `"3.0.2-0ubuntu1.10"}],"force_not_offered":true`, 1)
	var after ChangeView
	if code := ts.call(t, "PUT", "/api/v1/changes/"+ch.ID, tok["alice"], []byte(edited), &after); code != 200 {
		t.Fatal(code)
	}
	if after.State != ChangePendingApproval || after.ApprovedBy != "" || after.Plan.Hosts[0].Targets[0].Version != "3.0.2-0ubuntu1.10" {
		t.Fatalf("after the edit: %s by %q, %+v", after.State, after.ApprovedBy, after.Plan.Hosts)
	}
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/start", tok["alice"], nil, nil); code != 409 {
		t.Errorf("started an unapproved change: %d", code)
	}
}

// addPaymentsHost enrolls a second host in orgServer's payments-prod group,
// host-2 (pay-2), with openssl 3.0.2-0ubuntu1 on Ubuntu 22.04.
func addPaymentsHost(t *testing.T, ts *testServer, clock *fakeClock) {
	t.Helper()
	ctx, db := context.Background(), ts.db
	if err := db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk2", Hash: "h2", Prefix: "p2", ExpiresAt: clock.now().Add(time.Hour), CreatedAt: clock.now(),
		Labels: map[string]string{"app": "payments", "env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnrollHost(ctx, "h2", store.Host{ID: "host-2", Hostname: "pay-2", CertSerial: "s2", CertNotAfter: clock.now().AddDate(1, 0, 0),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyCheckin(ctx, "host-2", store.Checkin{Facts: inventory.Facts{OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, Arch: "x86_64", PackageFormat: inventory.FormatDpkg},
		Full: true, Packages: []inventory.Package{{Name: "openssl", Version: "3.0.2-0ubuntu1", Arch: "amd64"}}, Updates: paymentsUpdates}, clock.now()); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutWaitsForWindowsAndResumesInTheNext drives the real engine loop
// step with an injected clock: started outside payments-prod's window
// (second Tuesday + 3 days, 22:00 Berlin, 4 h), nothing is dispatched; in
// the window one host goes (batch 1); the window ends before the second
// can start, so it waits for the next month's window and goes then.
func TestRolloutWaitsForWindowsAndResumesInTheNext(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	db := ts.db
	addPaymentsHost(t, ts, clock)
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"batch_size":1,"job_timeout":"3h"}`), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/start", tok["alice"], nil, nil)
	step := func() []store.Job {
		t.Helper()
		ts.stepOnce(t, ch.ID)
		jobs, _ := db.ChangeJobs(ctx, ch.ID)
		return jobs
	}
	finish := func(j store.Job) {
		t.Helper()
		res, _ := json.Marshal(protocol.JobResult{JobID: j.ID, OK: true, Installed: map[string]string{"openssl:amd64": "3.0.2-0ubuntu1.9"}})
		if _, err := db.FinishJob(ctx, j.HostID, j.ID, res, clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	if jobs := step(); len(jobs) != 0 {
		t.Fatalf("dispatched outside the window: %d jobs", len(jobs))
	}
	// 2026-12-11 21:00Z is 22:00 in Berlin: the window opens.
	clock.t = time.Date(2026, 12, 11, 21, 5, 0, 0, time.UTC)
	jobs := step()
	if len(jobs) != 1 {
		t.Fatalf("in the window: %d jobs, want 1 (batch 1)", len(jobs))
	}
	clock.advance(85 * time.Minute) // 22:30Z
	finish(jobs[0])
	// The window closes at 01:00Z; a job started at 22:30Z with a 3 h
	// timeout could run past it, so the second host waits.
	if jobs := step(); len(jobs) != 1 {
		t.Fatalf("dispatched although the job could not finish inside the window: %d jobs", len(jobs))
	}
	clock.t = time.Date(2026, 12, 12, 2, 0, 0, 0, time.UTC)
	if jobs := step(); len(jobs) != 1 {
		t.Fatalf("dispatched after the window closed: %d jobs", len(jobs))
	}
	// Next window: 2027-01-15 21:00Z (second Tuesday of January is the 12th).
	clock.t = time.Date(2027, 1, 15, 21, 1, 0, 0, time.UTC)
	jobs = step()
	if len(jobs) != 2 || jobs[0].HostID == jobs[1].HostID {
		t.Fatalf("the next window did not pick up where it stopped: %+v", jobs)
	}
	clock.advance(10 * time.Minute)
	for _, j := range jobs {
		if j.Status != "done" {
			finish(j)
		}
	}
	step()
	c, _ := db.GetChange(ctx, ch.ID)
	if c.State != ChangeAwaitingSignOff {
		t.Fatalf("after both hosts: %s", c.State)
	}
}
