package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// told lists "recipient/role" of the console record of kind, sorted.
func told(t *testing.T, db *store.DB, kind string) []string {
	t.Helper()
	ns, err := db.ListOutbox(context.Background(), store.OutboxFilter{Kind: kind, Channel: "console", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		out = append(out, n.Recipient+"/"+n.Role)
	}
	slices.Sort(out)
	return out
}

func TestStaleHostIsToldToItsGroupsSysadminOnce(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	ctx := context.Background()
	if err := ts.Server.observeNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	if got := told(t, ts.db, "host.stale"); len(got) != 0 {
		t.Fatalf("a host seen just now is stale: %q", got)
	}
	clock.advance(4 * time.Minute) // three check-in intervals of 60 s have passed
	for range 2 {                  // observed twice, told once
		if err := ts.Server.observeNotifications(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := told(t, ts.db, "host.stale"); !slices.Equal(got, []string{"alice/sysadmin"}) {
		t.Errorf("stale host told to %q, want alice (sysadmin of payments-prod) once", got)
	}
}

func TestEmergencyStopAndReleaseAreToldToEveryTeam(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	if code := ts.call(t, "POST", "/api/v1/emergency-stop", tok["alice"], []byte(`{"reason":"bad mirror"}`), nil); code != 200 {
		t.Fatalf("stop: %d", code)
	}
	// Sysadmins of every group (alice, dave, erin), approvers (bob) and
	// admins (dave, told once, as sysadmin) of every team.
	want := []string{"alice/sysadmin", "bob/approver", "dave/sysadmin", "erin/sysadmin"}
	if got := told(t, ts.db, "emergency.stop"); !slices.Equal(got, want) {
		t.Errorf("stop told to %q, want %q", got, want)
	}
	if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", ts.userToken(t, "olga", RoleOperator), nil, nil); code != 200 {
		t.Fatalf("release: %d", code)
	}
	if got := told(t, ts.db, "emergency.release"); !slices.Equal(got, want) {
		t.Errorf("release told to %q, want %q", got, want)
	}
}

func TestTeamSubscriptionsAreAppliedAndCheckedAsPartOfTheOrganisation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// payments hears only of halts and KEV findings, its stakeholders only.
	sub := strings.Replace(string(org), "      - {user: carol, role: stakeholder}\n",
		"      - {user: carol, role: stakeholder}\n    notifications:\n      - {events: [change.halted, finding.kev], roles: [stakeholder]}\n", 1)
	var res OrgApplyResult
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], []byte(sub), &res); code != 200 {
		t.Fatalf("apply with a subscription: %d", code)
	}
	bad := strings.Replace(sub, "roles: [stakeholder]", "roles: [boss], channels: [pager]", 1)
	var e errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/org/apply", tok["admin"], []byte(bad), &e); code != 400 ||
		!strings.Contains(e.Error.Message, `teams[0].notifications[0].roles[0]: "boss" is not a recipient role`) ||
		!strings.Contains(e.Error.Message, `teams[0].notifications[0].channels[0]: no channel "pager" is configured`) {
		t.Fatalf("bad subscription: %d %q", code, e.Error.Message)
	}
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`), &ch); code != 201 {
		t.Fatal(code)
	}
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	if got := told(t, ts.db, "change.pending-approval"); len(got) != 0 {
		t.Errorf("pending approval told to %q; the subscription names only halts and KEV findings", got)
	}
}

func TestTestMessageNeedsAChannel(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	var e errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/notifications/test", tok["admin"], nil, &e); code != 400 || !strings.Contains(e.Error.Message, "--webhook") {
		t.Errorf("test without channels: %d %q", code, e.Error.Message)
	}
	if code := ts.callRefused(t, "POST", "/api/v1/notifications/test", tok["alice"], nil, &e); code != 403 {
		t.Errorf("an operator sent a test message: %d", code)
	}
}

// A Slack channel is a shared room: one message per event, naming everyone
// concerned, with a button to the change in the console.
func TestSlackGetsOneMessagePerEventNamingEveryoneConcerned(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	bodies := make(chan []byte, 10)
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		io.WriteString(w, "ok")
	}))
	defer slack.Close()
	ts, tok, _ := orgServer(t, clock, func(c *Config) {
		c.SlackWebhookURL = slack.URL + "/services/T1/B1/secret"
		c.ConsoleURL = "https://patchbay.example.com"
		c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.NotifyRoots = slack.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	})
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`), &ch); code != 201 {
		t.Fatal(code)
	}
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	var msg struct {
		Text   string
		Blocks []struct {
			Type     string
			Text     struct{ Text string }
			Elements []struct{ URL string }
		}
	}
	select {
	case b := <-bodies:
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Slack message")
	}
	if len(msg.Blocks) != 4 || !strings.HasSuffix(msg.Blocks[1].Text.Text, "\n_For alice (author), bob (approver)_") ||
		msg.Blocks[3].Elements[0].URL != "https://patchbay.example.com/changes/"+ch.ID {
		t.Errorf("Slack message %+v", msg)
	}
	select {
	case b := <-bodies:
		t.Errorf("a second Slack message for one event: %s", b)
	case <-time.After(2 * time.Second):
	}
}

func TestConfigRefusesNotificationURLsItWouldNotReach(t *testing.T) {
	base := DefaultConfig()
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" when valid
	}{
		{"a public webhook with a secret", func(c *Config) { c.WebhookURL, c.WebhookSecret = "https://hooks.example.com/x", "s" }, ""},
		{"a webhook without a secret", func(c *Config) { c.WebhookURL = "https://hooks.example.com/x" }, "--webhook needs --webhook-secret"},
		{"a private address", func(c *Config) { c.WebhookURL, c.WebhookSecret = "https://10.0.0.5/x", "s" }, "--webhook: refused by the outbound policy: 10.0.0.5 is private (RFC 1918)"},
		{"a private address the admin allowed", func(c *Config) {
			c.WebhookURL, c.WebhookSecret = "https://10.0.0.5/x", "s"
			c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
		}, ""},
		{"another scheme", func(c *Config) { c.SlackWebhookURL = "gopher://hooks.slack.com/x" }, `--slack-webhook: refused by the outbound policy: scheme "gopher"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.Validate()
			if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want))) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

// Findings past their due date are told per host, once for the same set.
func TestOverdueFindingsAreToldToTheHostsOwnersOnce(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, host := orgServer(t, clock)
	ctx := context.Background()
	no := false
	fs, _, err := ts.db.ListFindings(ctx, store.FindingFilter{HostID: host, Excepted: &no})
	if err != nil || len(fs) == 0 {
		t.Fatalf("findings: %+v %v", fs, err)
	}
	var last time.Time
	for _, f := range fs {
		if f.DueAt != nil && f.DueAt.After(last) {
			last = *f.DueAt
		}
	}
	clock.advance(last.Sub(clock.now()) + time.Hour) // every finding of the host is past due
	for range 2 {
		if err := ts.Server.observeNotifications(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := told(t, ts.db, "finding.overdue"); !slices.Equal(got, []string{"alice/sysadmin", "carol/stakeholder"}) {
		t.Errorf("overdue findings told to %q, want alice (sysadmin) and carol (stakeholder) of payments-prod, once", got)
	}
	ns, _ := ts.db.ListOutbox(ctx, store.OutboxFilter{Kind: "finding.overdue", Channel: "console", Limit: 1})
	var ev struct{ Subject, Host string }
	if len(ns) == 1 {
		json.Unmarshal(ns[0].Event, &ev)
	}
	if ev.Host != host || ev.Subject != fmt.Sprintf("%d findings past due on pay-1", len(fs)) {
		t.Errorf("overdue event %+v", ev)
	}
}

// A feed that fails to sync is told to the security members and admins of
// every team.
func TestFeedSyncFailureIsToldToSecurityAndAdmins(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	feed := httptest.NewTLSServer(http.NotFoundHandler())
	defer feed.Close()
	ts.Server.feedClient = feed.Client()
	ts.Server.feedRetryDelay = time.Millisecond
	ts.Server.cfg.FeedSources = []FeedSource{{"gone", feed.URL + "/missing"}}
	res := ts.Server.syncFeeds(context.Background())
	if len(res) != 1 || res[0].Feed.Error == "" {
		t.Fatalf("sync: %+v", res)
	}
	// platform: dave (admin) and erin (security); payments has neither.
	if got := told(t, ts.db, "feed.sync-failed"); !slices.Equal(got, []string{"dave/admin", "erin/security"}) {
		t.Errorf("feed failure told to %q, want dave (admin) and erin (security)", got)
	}
}
