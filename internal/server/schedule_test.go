package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/web"
)

// A change may name when it starts: a time inside its groups' windows, or
// their next window. Approved, it is scheduled, and the engine loop's
// scheduler starts it then, not before; a time outside every window of a
// group is refused with that group's next window.
func TestApprovedChangesStartWhenScheduled(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	db := ts.db
	addPaymentsHost(t, ts, clock)
	create := func(start string) (ChangeView, int, string) {
		t.Helper()
		var ch ChangeView
		var raw []byte
		body := `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"start":"` + start + `"}`
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/changes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok["alice"])
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ = io.ReadAll(resp.Body)
		if resp.StatusCode == 201 {
			if err := json.Unmarshal(raw, &ch); err != nil {
				t.Fatal(err)
			}
		}
		return ch, resp.StatusCode, string(raw)
	}
	state := func(id string) string {
		t.Helper()
		c, err := db.GetChange(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.State
	}

	// payments-prod's window: second Tuesday + 3 days, 22:00 Berlin, 4 h;
	// in December 2026 it opens 2026-12-11T21:00Z.
	if _, code, msg := create("2026-12-01T10:00:00Z"); code != 400 ||
		!strings.Contains(msg, "outside every maintenance window of group payments-prod (its next window opens 2026-12-11T21:00:00Z)") {
		t.Fatalf("a start outside the window: %d %s, want 400 naming the group and its next window", code, msg)
	}
	if _, code, _ := create("yesterday"); code != 400 {
		t.Errorf("a start that is no time: %d, want 400", code)
	}
	if _, code, _ := create("2026-11-01T10:00:00Z"); code != 400 {
		t.Errorf("a start in the past: %d, want 400", code)
	}

	at, code, msg := create("2026-12-11T21:30:00Z")
	if code != 201 {
		t.Fatalf("a start inside the window: %d %s", code, msg)
	}
	next, code, msg := create(StartNextWindow)
	if code != 201 {
		t.Fatalf("next-window: %d %s", code, msg)
	}
	for _, ch := range []ChangeView{at, next} {
		ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
		ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
		if got := state(ch.ID); got != ChangeScheduled {
			t.Fatalf("approved with a start: %s, want scheduled", got)
		}
	}
	var v ChangeView
	ts.call(t, "GET", "/api/v1/changes/"+at.ID, tok["alice"], nil, &v)
	if last := v.History[len(v.History)-1]; !strings.Contains(last.Detail, "scheduled to start at 2026-12-11T21:30:00Z") {
		t.Errorf("the approval reads %q", last.Detail)
	}

	ts.startDue(ctx)
	if state(at.ID) != ChangeScheduled || state(next.ID) != ChangeScheduled {
		t.Fatal("a scheduled change started before its time")
	}
	clock.t = time.Date(2026, 12, 11, 21, 1, 0, 0, time.UTC) // the window is open; at's time is not yet
	ts.startDue(ctx)
	if got := state(next.ID); got != ChangeRunning {
		t.Errorf("next-window change in the open window: %s, want running", got)
	}
	if got := state(at.ID); got != ChangeScheduled {
		t.Errorf("the 21:30 change at 21:01: %s, want scheduled", got)
	}
	clock.t = time.Date(2026, 12, 11, 21, 30, 0, 0, time.UTC)
	ts.startDue(ctx)
	if got := state(at.ID); got != ChangeRunning {
		t.Errorf("the 21:30 change at 21:30: %s, want running", got)
	}
	ts.call(t, "GET", "/api/v1/changes/"+at.ID, tok["alice"], nil, &v)
	if last := v.History[len(v.History)-1]; last.Actor != "token:scheduler" || !strings.HasPrefix(last.Detail, "started") {
		t.Errorf("the start reads %+v", last)
	}
}

// A change created in the console carries its start and reboot choice, and
// is scheduled once approved.
func TestConsoleChangesCarryTheirStart(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	b, dora, _ := consoleAs(t, ts, "dora", RoleOperator)
	req := web.ChangeRequest{Title: "openssl", Groups: []string{"payments-prod"}, Advisories: []string{"A-1"},
		BatchSize: 1, Reboot: "restart-services", Start: "2026-12-11T21:30:00Z"}
	id, err := b.CreateChange(ctx, dora, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Start = "2026-12-01T10:00:00Z"
	if _, err := b.CreateChange(ctx, dora, req); err == nil || !strings.Contains(err.Error(), "outside every maintenance window") {
		t.Errorf("a console change starting outside the window: %v", err)
	}
	ts.call(t, "POST", "/api/v1/changes/"+id+"/approve", tok["bob"], nil, nil)
	var v ChangeView
	ts.call(t, "GET", "/api/v1/changes/"+id, tok["bob"], nil, &v)
	if v.State != ChangeScheduled || v.Spec.Start != "2026-12-11T21:30:00Z" || v.Spec.Reboot != "restart-services" {
		t.Errorf("the console's change: state %s, start %q, reboot %q", v.State, v.Spec.Start, v.Spec.Reboot)
	}
}
