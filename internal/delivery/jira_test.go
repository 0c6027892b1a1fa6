package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// fakeJira implements the subset of Jira's REST API v2 the channel uses,
// validating requests as Jira documents them: the Authorization header,
// the required fields of a new issue (project key, issue type, summary),
// and that a transition's id is one the issue's workflow offers in its
// current status. Its workflow: To Do -(11 Start Progress)-> In Progress
// -(21 Done)-> Done; In Progress -(31 Stop Progress)-> To Do.
type fakeJira struct {
	auth string // the whole expected Authorization header

	mu     sync.Mutex
	issues map[string]*fakeIssue
	order  []string
	bad    []string
}

type fakeIssue struct {
	fields   map[string]any
	status   string
	comments []string
}

var fakeWorkflow = map[string][]struct{ id, name, to string }{
	"To Do":       {{"11", "Start Progress", "In Progress"}},
	"In Progress": {{"21", "Done", "Done"}, {"31", "Stop Progress", "To Do"}},
	"Done":        {},
}

func (j *fakeJira) fail(w http.ResponseWriter, code int, msg string) {
	j.bad = append(j.bad, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func (j *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r.Header.Get("Authorization") != j.auth {
		j.fail(w, http.StatusUnauthorized, "You are not authenticated. Authentication required to perform this operation.")
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		if r.Header.Get("Content-Type") != "application/json" {
			j.fail(w, http.StatusUnsupportedMediaType, "not JSON")
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			j.fail(w, http.StatusBadRequest, "bad JSON")
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/rest/api/2/")
	parts := strings.Split(path, "/")
	switch {
	case r.Method == http.MethodGet && path == "myself":
		fmt.Fprint(w, `{"name":"ops","emailAddress":"ops@example.com","active":true}`)
	case r.Method == http.MethodPost && path == "issue":
		fields, _ := body["fields"].(map[string]any)
		errs := map[string]string{}
		if p, _ := fields["project"].(map[string]any); p == nil || p["key"] != "OPS" {
			errs["project"] = "project is required"
		}
		if it, _ := fields["issuetype"].(map[string]any); it == nil || (it["name"] == nil && it["id"] == nil) {
			errs["issuetype"] = "issue type is required"
		}
		if s, _ := fields["summary"].(string); s == "" {
			errs["summary"] = "You must specify a summary of the issue."
		}
		if len(errs) > 0 {
			j.bad = append(j.bad, fmt.Sprint(errs))
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"errorMessages": []string{}, "errors": errs})
			return
		}
		key := fmt.Sprintf("OPS-%d", len(j.order)+1)
		j.issues[key] = &fakeIssue{fields: fields, status: "To Do"}
		j.order = append(j.order, key)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%d","key":"%s","self":"https://jira/rest/api/2/issue/%d"}`, 10000+len(j.order), key, 10000+len(j.order))
	case len(parts) == 3 && parts[0] == "issue":
		is := j.issues[parts[1]]
		if is == nil {
			j.fail(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
			return
		}
		switch {
		case parts[2] == "comment" && r.Method == http.MethodPost:
			c, _ := body["body"].(string)
			if c == "" {
				j.fail(w, http.StatusBadRequest, "Comment body can not be empty!")
				return
			}
			is.comments = append(is.comments, c)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"1"}`)
		case parts[2] == "transitions" && r.Method == http.MethodGet:
			var ts []map[string]any
			for _, t := range fakeWorkflow[is.status] {
				ts = append(ts, map[string]any{"id": t.id, "name": t.name, "to": map[string]string{"name": t.to}})
			}
			json.NewEncoder(w).Encode(map[string]any{"expand": "transitions", "transitions": ts})
		case parts[2] == "transitions" && r.Method == http.MethodPost:
			t, _ := body["transition"].(map[string]any)
			for _, wt := range fakeWorkflow[is.status] {
				if t != nil && t["id"] == wt.id {
					is.status = wt.to
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			j.fail(w, http.StatusBadRequest, fmt.Sprintf("Transition id '%v' is not valid for this issue.", t["id"]))
		default:
			j.fail(w, http.StatusNotFound, "no such endpoint")
		}
	default:
		j.fail(w, http.StatusNotFound, "no such endpoint")
	}
}

func enqueueJira(t *testing.T, db *store.DB, at time.Time, ev notify.Event) string {
	t.Helper()
	d := notify.Delivery{Recipient: "issue", Role: "ticket", Channel: "jira"}
	b, _ := json.Marshal(ev)
	m := store.OutboxMessage{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: d.Recipient, Role: d.Role,
		Channel: "jira", Event: b, CreatedAt: at}
	if err := db.EnqueueOutbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m.Key
}

func changeEvent(kind, rev string) notify.Event {
	return notify.Event{ID: "c1:" + rev, Kind: notify.Kind(kind), At: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
		Subject: `Change "kernel 6.1" is ` + strings.TrimPrefix(kind, "change."), Text: "Change c1 moved", Link: "/changes/c1", Change: "c1"}
}

func TestJiraIssueIsCreatedCommentedAndTransitionedAsTheChangeMoves(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	fj := &fakeJira{auth: "Basic b3BzQGV4YW1wbGUuY29tOmFwaS10b2tlbi0x", issues: map[string]*fakeIssue{}}
	srv := httptest.NewTLSServer(fj)
	t.Cleanup(srv.Close)
	w := newWorker(t, db, clk, srv, "127.0.0.1/32")
	w.Issues = db
	addChannel(t, db, w, "jira", KindJira, ChannelConfig{URL: srv.URL, Username: "ops@example.com",
		Jira: JiraConfig{Project: "OPS", IssueType: "Task", Token: "api-token-1",
			Transitions: map[string]string{"approved": "Start Progress", "completed": "Done"}}})

	want := []struct {
		kind, rev string
		status    string
		comments  int
	}{
		{"change.pending-approval", "1", "To Do", 0}, // submitted: the issue is created
		{"change.approved", "2", "In Progress", 1},
		{"change.started", "3", "In Progress", 2}, // no transition named for running
		{"change.completed", "4", "Done", 3},
	}
	for i, s := range want {
		enqueueJira(t, db, clk.now(), changeEvent(s.kind, s.rev))
		if n, err := w.Step(ctx); err != nil || n != 1 {
			t.Fatalf("step %d: %d attempted, %v", i, n, err)
		}
		fj.mu.Lock()
		if len(fj.order) != 1 {
			t.Fatalf("step %d: %d issues, want 1 (bad requests: %q)", i, len(fj.order), fj.bad)
		}
		is := fj.issues["OPS-1"]
		if is.status != s.status || len(is.comments) != s.comments {
			t.Fatalf("step %d: OPS-1 is %q with %d comments, want %q with %d (bad requests: %q)", i, is.status, len(is.comments), s.status, s.comments, fj.bad)
		}
		fj.mu.Unlock()
		clk.advance(time.Second)
	}
	fj.mu.Lock()
	is := fj.issues["OPS-1"]
	if is.fields["summary"] != `Change "kernel 6.1" is pending-approval` {
		t.Errorf("summary %q", is.fields["summary"])
	}
	if d, _ := is.fields["description"].(string); !strings.Contains(d, "https://pb.example.com/changes/c1") {
		t.Errorf("description %q does not link the change", d)
	}
	if len(fj.bad) > 0 {
		t.Errorf("Jira refused: %q", fj.bad)
	}
	fj.mu.Unlock()
	ci, err := db.GetChangeIssue(ctx, "c1", "jira")
	if err != nil || ci.Key != "OPS-1" || ci.URL != srv.URL+"/browse/OPS-1" {
		t.Fatalf("stored issue %+v, %v; want OPS-1 at %s/browse/OPS-1", ci, err, srv.URL)
	}
	ms, err := db.ListOutbox(ctx, store.OutboxFilter{Channel: "jira", Limit: 10})
	if err != nil || len(ms) != 4 {
		t.Fatalf("outbox: %d messages, %v", len(ms), err)
	}
	for _, m := range ms {
		if m.Status != store.OutboxDelivered {
			t.Errorf("%s: %s (%s)", m.Kind, m.Status, m.LastError)
		}
	}
}

func TestJiraWithAWrongTokenIsDeadLettered(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	fj := &fakeJira{auth: "Bearer pat-good", issues: map[string]*fakeIssue{}}
	srv := httptest.NewTLSServer(fj)
	t.Cleanup(srv.Close)
	w := newWorker(t, db, clk, srv, "127.0.0.1/32")
	w.Issues = db
	addChannel(t, db, w, "jira", KindJira, ChannelConfig{URL: srv.URL, Jira: JiraConfig{Project: "OPS", IssueType: "Task", Token: "pat-bad"}})
	enqueueJira(t, db, clk.now(), changeEvent("change.pending-approval", "1"))
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := db.ListOutbox(ctx, store.OutboxFilter{Channel: "jira", Limit: 1})
	if len(ms) != 1 || ms[0].Status != store.OutboxDead || !strings.Contains(ms[0].LastError, "401") {
		t.Fatalf("outbox %+v; want one dead message naming 401", ms)
	}
	if _, err := db.GetChangeIssue(ctx, "c1", "jira"); err != store.ErrNotFound {
		t.Fatalf("an issue was recorded: %v", err)
	}
	// A test message fails the same way, and creates nothing.
	enqueueJira(t, db, clk.now(), notify.Event{ID: "test:1", Kind: notify.Test, At: clk.now(), Subject: "Patchbay test message"})
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ = db.ListOutbox(ctx, store.OutboxFilter{Channel: "jira", Kind: string(notify.Test), Limit: 1})
	if len(ms) != 1 || ms[0].Status != store.OutboxDead || !strings.Contains(ms[0].LastError, "401") {
		t.Fatalf("test message %+v; want dead naming 401", ms)
	}
	testID := ms[0].ID
	ms, _ = db.ListOutbox(ctx, store.OutboxFilter{Channel: "jira", Kind: "change.pending-approval", Limit: 1})
	// The right PAT: a retry by hand creates the issue.
	addChannel(t, db, w, "jira", KindJira, ChannelConfig{URL: srv.URL, Jira: JiraConfig{Project: "OPS", IssueType: "Task", Token: "pat-good"}})
	if err := db.RetryOutbox(ctx, ms[0].ID, clk.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if ci, err := db.GetChangeIssue(ctx, "c1", "jira"); err != nil || ci.Key != "OPS-1" {
		t.Fatalf("after the retry: %+v, %v", ci, err)
	}
	if err := db.RetryOutbox(ctx, testID, clk.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetOutbox(ctx, testID); got.Status != store.OutboxDelivered {
		t.Fatalf("test message after the retry: %s (%s)", got.Status, got.LastError)
	}
	fj.mu.Lock()
	defer fj.mu.Unlock()
	if len(fj.order) != 1 {
		t.Fatalf("%d issues, want 1: a test message creates none", len(fj.order))
	}
}
