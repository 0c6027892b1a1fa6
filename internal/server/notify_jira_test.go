package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// A submitted change gets one Jira issue, its approval a comment and the
// transition configured for "approved"; the change page links the issue.
func TestSubmittedChangeGetsOneJiraIssueLinkedFromTheConsole(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	jira := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer pat-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct {
			Fields struct {
				Project   struct{ Key string }
				IssueType struct{ Name string } `json:"issuetype"`
				Summary   string
			}
			Transition struct{ ID string }
		}
		json.NewDecoder(r.Body).Decode(&body)
		switch r.Method + " " + r.URL.Path {
		case "POST /rest/api/2/issue":
			if body.Fields.Project.Key != "OPS" || body.Fields.IssueType.Name != "Change" || body.Fields.Summary == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			calls = append(calls, "create "+body.Fields.Summary)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"10001","key":"OPS-1","self":"x"}`))
		case "POST /rest/api/2/issue/OPS-1/comment":
			calls = append(calls, "comment")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"1"}`))
		case "GET /rest/api/2/issue/OPS-1/transitions":
			w.Write([]byte(`{"transitions":[{"id":"11","name":"Start Progress"},{"id":"41","name":"Won't Do"}]}`))
		case "POST /rest/api/2/issue/OPS-1/transitions":
			calls = append(calls, "transition "+body.Transition.ID)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(jira.Close)
	roots := jira.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock, func(c *Config) {
		c.Jira = JiraChannel{URL: jira.URL, Token: "pat-1", Project: "OPS", IssueType: "Change",
			Transitions: map[string]string{"approved": "Start Progress"}}
		c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.NotifyRoots = roots
	})
	ctx := context.Background()
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err := ts.db.ListOutbox(ctx, store.OutboxFilter{Channel: "jira", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		done := len(ms) == 2
		for _, m := range ms {
			done = done && m.Status == store.OutboxDelivered
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jira messages after 30s: %+v", ms)
		}
		ts.wakeNotify()
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	want := []string{`create Change "openssl" is pending-approval`, "comment", "transition 11"}
	if !slices.Equal(got, want) {
		t.Errorf("Jira saw %q, want %q", got, want)
	}
	v, err := consoleBackend{ts.Server}.Change(ctx, ch.ID)
	if err != nil || v.Ticket == nil || v.Ticket.Key != "OPS-1" || v.Ticket.URL != jira.URL+"/browse/OPS-1" {
		t.Fatalf("console change: %+v, %v; want OPS-1 at %s/browse/OPS-1", v.Ticket, err, jira.URL)
	}
}

func TestJiraAndSIEMFlagsAreValidated(t *testing.T) {
	lo := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	jiraOK := JiraChannel{URL: "https://127.0.0.1:8080", Token: "t", Project: "OPS", IssueType: "Task"}
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string // "" valid; else a part of the error
	}{
		{"siem ok", func(c *Config) { c.SIEMSyslog, c.NotifyAllow = "tls://127.0.0.1:6514", lo }, ""},
		{"siem udp", func(c *Config) { c.SIEMSyslog = "udp://127.0.0.1:514" }, "want tls://HOST:PORT"},
		{"siem no port", func(c *Config) { c.SIEMSyslog = "tls://siem.example.com" }, "want tls://HOST:PORT"},
		{"siem loopback", func(c *Config) { c.SIEMSyslog = "tls://127.0.0.1:6514" }, "--notify-allow"},
		{"siem metadata", func(c *Config) { c.SIEMSyslog = "tls://169.254.169.254:6514" }, "refused"},
		{"jira ok", func(c *Config) { c.Jira, c.NotifyAllow = jiraOK, lo }, ""},
		{"jira no project", func(c *Config) { c.Jira, c.NotifyAllow = jiraOK, lo; c.Jira.Project = "" }, "--jira-project"},
		{"jira no token", func(c *Config) { c.Jira, c.NotifyAllow = jiraOK, lo; c.Jira.Token = "" }, "PATCHBAY_JIRA_TOKEN"},
		{"jira bad state", func(c *Config) {
			c.Jira, c.NotifyAllow = jiraOK, lo
			c.Jira.Transitions = map[string]string{"finished": "Done"}
		}, "--jira-transition finished"},
		{"jira loopback", func(c *Config) { c.Jira = jiraOK }, "--notify-allow"},
		{"jira project alone", func(c *Config) { c.Jira.Project = "OPS" }, "need --jira-url"},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
