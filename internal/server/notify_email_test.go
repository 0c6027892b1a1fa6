package server

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// An approved change is e-mailed to the people concerned who have an
// address, with its planned window.
func TestApprovedChangeIsEmailedWithItsWindowToPeopleWithAnAddress(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock, func(c *Config) {
		c.Email = EmailChannel{URL: "smtp://127.0.0.1:2525", From: "patchbay@example.com"}
		c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ctx := context.Background()
	var u struct{ Username, Email string }
	if code := ts.call(t, "POST", "/api/v1/users/carol/email", tok["admin"], []byte(`{"email":"carol@example.org"}`), &u); code != 200 || u.Email != "carol@example.org" {
		t.Fatalf("set carol's address: %d %+v", code, u)
	}
	var e errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/users/alice/email", tok["admin"], []byte(`{"email":"Alice <alice@example.org>"}`), &e); code != 400 ||
		!strings.Contains(e.Error.Message, "not a bare e-mail address") {
		t.Errorf("a named address: %d %q", code, e.Error.Message)
	}
	if code := ts.callRefused(t, "POST", "/api/v1/users/alice/email", tok["alice"], []byte(`{"email":"alice@example.org"}`), &e); code != 403 {
		t.Errorf("an operator set an address: %d", code)
	}
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	ms, err := ts.db.ListOutbox(ctx, store.OutboxFilter{Channel: "email", Kind: "change.approved", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Told: alice (author and sysadmin) and carol (stakeholder); only
	// carol has an address.
	if len(ms) != 1 || ms[0].Recipient != "carol" || ms[0].Role != "stakeholder" {
		t.Fatalf("email messages: %+v, want one to carol as stakeholder", ms)
	}
	if got := told(t, ts.db, "change.approved"); !slices.Equal(got, []string{"alice/author", "carol/stakeholder"}) {
		t.Errorf("console record: %q", got)
	}
	var ev notify.Event
	if err := json.Unmarshal(ms[0].Event, &ev); err != nil || ev.Schedule == nil {
		t.Fatalf("event %s: %v, want a schedule", ms[0].Event, err)
	}
	// payments-prod's window: the second Tuesday of the month plus 3 days,
	// 22:00 Europe/Berlin for 4 h. After the black-friday freeze: Tuesday
	// 8 December + 3 = Friday 11 December, 22:00 CET = 21:00 UTC.
	if !ev.Schedule.Start.Equal(time.Date(2026, 12, 11, 21, 0, 0, 0, time.UTC)) || !ev.Schedule.End.Equal(time.Date(2026, 12, 12, 1, 0, 0, 0, time.UTC)) ||
		ev.Schedule.Detail != "Its first wave runs in window patch-tuesday." {
		t.Errorf("schedule %+v, want 2026-12-11 21:00Z to 2026-12-12 01:00Z in patch-tuesday", ev.Schedule)
	}
}

const paymentsLadder = `    escalation:
      - {after: 0d, notify: [sysadmin]}
      - {after: 3d, notify: [approver]}
      - {after: 7d, notify: [stakeholder, approver]}
`

// applyLadder applies the test organisation with ladder for payments.
func applyLadder(t *testing.T, ts *testServer, admin, ladder string) (int, errorBody) {
	t.Helper()
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(org), "      - {user: carol, role: stakeholder}\n", "      - {user: carol, role: stakeholder}\n"+ladder, 1)
	var e errorBody
	return ts.callRefused(t, "POST", "/api/v1/org/apply", admin, []byte(y), &e), e
}

// escalated lists "step recipient/role" of the console records of
// escalation events whose ID starts with prefix, sorted.
func escalated(t *testing.T, db *store.DB, prefix string) []string {
	t.Helper()
	ns, err := db.ListOutbox(context.Background(), store.OutboxFilter{Kind: "escalation", Channel: "console", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		if strings.HasPrefix(n.EventID, prefix) {
			out = append(out, n.EventID[strings.LastIndex(n.EventID, ":")+1:]+" "+n.Recipient+"/"+n.Role)
		}
	}
	slices.Sort(out)
	return out
}

func TestOverdueFindingsClimbTheTeamsEscalationLadderOneStepAtATime(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	if code, e := applyLadder(t, ts, tok["admin"], paymentsLadder); code != 200 {
		t.Fatalf("apply the ladder: %d %q", code, e.Error.Message)
	}
	ctx := context.Background()
	no := false
	fs, _, err := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host, Excepted: &no})
	if err != nil || len(fs) == 0 {
		t.Fatalf("findings: %+v %v", fs, err)
	}
	first := fs[0].DueAt
	for _, f := range fs {
		if f.DueAt != nil && (first == nil || f.DueAt.Before(*first)) {
			first = f.DueAt
		}
	}
	observe := func(at time.Time) {
		clock.advance(at.Sub(clock.now()))
		for range 2 { // observed twice, told once
			if err := ts.Server.observeNotifications(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	prefix := "overdue:" + host + ":"
	observe(first.Add(-time.Minute))
	if got := escalated(t, ts.db, prefix); len(got) != 0 {
		t.Fatalf("before the due date: %q", got)
	}
	observe(first.Add(time.Minute))
	if got := escalated(t, ts.db, prefix); !slices.Equal(got, []string{"1 alice/sysadmin"}) {
		t.Errorf("at the due date: %q, want alice (sysadmin of payments-prod)", got)
	}
	observe(first.Add(3*24*time.Hour + time.Minute))
	if got := escalated(t, ts.db, prefix); !slices.Equal(got, []string{"1 alice/sysadmin", "2 bob/approver"}) {
		t.Errorf("after 3 days: %q, want bob (approver) added", got)
	}
	observe(first.Add(7*24*time.Hour + time.Minute))
	if got := escalated(t, ts.db, prefix); !slices.Equal(got, []string{"1 alice/sysadmin", "2 bob/approver", "3 bob/approver", "3 carol/stakeholder"}) {
		t.Errorf("after 7 days: %q, want carol (stakeholder) and bob again", got)
	}
}

func TestAStuckChangeEscalatesFromWhenItStopped(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	if code, e := applyLadder(t, ts, tok["admin"], paymentsLadder); code != 200 {
		t.Fatalf("apply the ladder: %d %q", code, e.Error.Message)
	}
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`), &ch)
	clock.advance(time.Hour)
	submitted := clock.now()
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ctx := context.Background()
	clock.advance(3*24*time.Hour - time.Minute)
	if err := ts.Server.observeNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	prefix := "stuck:" + ch.ID + ":pending-approval:"
	if got := escalated(t, ts.db, prefix); !slices.Equal(got, []string{"1 alice/sysadmin"}) {
		t.Errorf("a minute before 3 days pending: %q, want the sysadmin only", got)
	}
	clock.advance(2 * time.Minute)
	if err := ts.Server.observeNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	if got := escalated(t, ts.db, prefix); !slices.Equal(got, []string{"1 alice/sysadmin", "2 bob/approver"}) {
		t.Errorf("3 days pending: %q, want bob (approver) added", got)
	}
	ns, _ := ts.db.ListOutbox(ctx, store.OutboxFilter{Kind: "escalation", Channel: "console", Limit: 100})
	var ev notify.Event
	for _, n := range ns {
		if strings.HasPrefix(n.EventID, prefix) && n.Recipient == "bob" {
			json.Unmarshal(n.Event, &ev)
		}
	}
	if ev.Subject != `Escalation 2/3: Change "openssl" has waited for approval since `+submitted.Format("2006-01-02") || ev.Change != ch.ID {
		t.Errorf("escalation event %+v", ev)
	}
}

func TestApplyRefusesAnEscalationLadderItCannotFollow(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	code, e := applyLadder(t, ts, tok["admin"], "    escalation:\n      - {after: 3d, notify: [approver]}\n      - {after: 2d, notify: [boss]}\n")
	if code != 400 ||
		!strings.Contains(e.Error.Message, "teams[0].escalation[1].after: 2d is not later than the step before (3d)") ||
		!strings.Contains(e.Error.Message, `teams[0].escalation[1].notify[0]: "boss" is not a recipient role`) {
		t.Errorf("bad ladder: %d %q", code, e.Error.Message)
	}
}

func TestConfigRefusesAnEmailChannelItCannotUse(t *testing.T) {
	tests := []struct {
		name string
		ch   EmailChannel
		want string // "" when valid
	}{
		{"STARTTLS with an account", EmailChannel{URL: "smtp://mail.example.com:587", Username: "pb", Password: "pw", From: "patchbay@example.com"}, ""},
		{"implicit TLS without an account", EmailChannel{URL: "smtps://mail.example.com", From: "patchbay@example.com"}, ""},
		{"no sender", EmailChannel{URL: "smtp://mail.example.com:587"}, `--smtp-from "": the sender's address is required`},
		{"a named sender", EmailChannel{URL: "smtp://mail.example.com:587", From: "Patchbay <pb@example.com>"}, "give a bare address"},
		{"an http URL", EmailChannel{URL: "https://mail.example.com", From: "pb@example.com"}, `--smtp: refused by the outbound policy: scheme "https": only smtp and smtps`},
		{"a private server", EmailChannel{URL: "smtp://10.1.2.3:25", From: "pb@example.com"}, "--smtp: refused by the outbound policy: 10.1.2.3 is private (RFC 1918)"},
		{"the account in the URL", EmailChannel{URL: "smtp://pb:pw@mail.example.com:587", From: "pb@example.com"}, "credentials in the URL"},
		{"a password without a user", EmailChannel{URL: "smtp://mail.example.com:587", Password: "pw", From: "pb@example.com"}, "--smtp-password needs --smtp-user"},
		{"a sender without a server", EmailChannel{From: "pb@example.com"}, "give --smtp too"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Email = tt.ch
			err := c.Validate()
			if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want))) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAUserCreatedWithAnAddressKeepsItAndTheAuditSaysSo(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	admin := ts.tokenFor(t, RoleAdmin)
	var u struct{ Username, Email string }
	if code := ts.call(t, "POST", "/api/v1/users", admin, []byte(`{"username":"zoe","role":"auditor","email":"zoe@example.org"}`), &u); code != 201 || u.Email != "zoe@example.org" {
		t.Fatalf("create: %d %+v", code, u)
	}
	stored, err := ts.db.GetUserByName(context.Background(), "zoe")
	if err != nil || stored.Email != "zoe@example.org" {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	es := storedAudit(t, ts)
	if e := es[len(es)-1]; e.Summary != "user zoe created with role auditor, reached at zoe@example.org" {
		t.Errorf("audit: %q", e.Summary)
	}
	var e errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/users", admin, []byte(`{"username":"yan","role":"auditor","email":"not an address"}`), &e); code != 400 {
		t.Errorf("a bad address: %d %q", code, e.Error.Message)
	}
	if _, err := ts.db.GetUserByName(context.Background(), "yan"); err == nil {
		t.Error("a user was created with a refused address")
	}
}
