package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
)

// storedAuditEntries reads the whole audit log from the store.
func storedAuditEntries(t testing.TB, db *store.DB) []audit.Entry {
	t.Helper()
	return storedAuditAs[audit.Entry](t, db)
}

// TestRefusedRequestsWriteBoundedAuditEntries: 300 unauthenticated POSTs
// wrote 300 entries of ~60 KB of attacker text each (17 → 35 MB).
func TestRefusedRequestsWriteBoundedAuditEntries(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	before := len(storedAuditEntries(t, ts.db))
	junk := strings.Repeat("é", 25_000) // 50 KB of path, split mid-rune at 256 bytes
	send := func(c *http.Client) {
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/hosts/"+junk+"/revoke", strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("unauthenticated POST: %d, want 401", resp.StatusCode)
		}
	}
	first, second := ts.clientFrom(t, "127.0.3.1"), ts.clientFrom(t, "127.0.3.2")
	for range 300 {
		send(first)
	}
	send(second)
	es := storedAuditEntries(t, ts.db)[before:]
	if len(es) != 2 {
		t.Fatalf("%d entries for 301 refusals from 2 addresses within a minute, want 2 (one per address)", len(es))
	}
	clock.advance(refusalPeriod)
	ts.refusals.flush(context.Background(), false)
	es = storedAuditEntries(t, ts.db)[before:]
	if len(es) != 3 {
		t.Fatalf("%d entries after the minute, want 3 (one more counting the repeats)", len(es))
	}
	wantCount := "denied (repeated 299 times from 127.0.3.1 between 09:00:00 and 09:00:00)"
	if es[2].Outcome != wantCount || es[2].Actor != "anonymous" {
		t.Errorf("count entry: actor %q, outcome %q; want anonymous, %q", es[2].Actor, es[2].Outcome, wantCount)
	}
	for _, e := range es {
		for name, f := range map[string]string{"actor": e.Actor, "action": e.Action, "target": e.Target, "outcome": e.Outcome} {
			if len(f) > auditFieldMax || !utf8.ValidString(f) {
				t.Errorf("entry %d %s: %d bytes (valid UTF-8: %v), want at most %d", e.Seq, name, len(f), utf8.ValidString(f), auditFieldMax)
			}
		}
	}
	if !strings.HasSuffix(es[0].Target, "…(cut)") {
		t.Errorf("a cut field does not say so: %q", es[0].Target)
	}
}

func TestRefusalEntriesAreBoundedInNumber(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	ctx := context.Background()
	before := len(storedAuditEntries(t, ts.db))
	// 3,000 refusals from 3,000 addresses within one minute.
	for i := range 3000 {
		ts.refusals.record(ctx, audit.Entry{Actor: "anonymous", Action: "POST /api/v1/users", Target: "/api/v1/users", Outcome: "denied"},
			fmt.Sprintf("10.1.%d.%d:4000", i/250, i%250))
	}
	if n := len(storedAuditEntries(t, ts.db)) - before; n != refusalImmediateMax {
		t.Errorf("%d entries written at once, want the budget of %d", n, refusalImmediateMax)
	}
	if n := ts.refusals.keys.len(); n > refusalMaxKeys+1 {
		t.Errorf("%d keys counted, want at most %d", n, refusalMaxKeys+1)
	}
	clock.advance(refusalPeriod)
	ts.refusals.flush(ctx, false)
	es := storedAuditEntries(t, ts.db)[before:]
	// Under budget: 120 at once; the next 904 keys are counted one each;
	// the remaining 1,976 refusals share the catch-all key.
	if want := refusalImmediateMax + (refusalMaxKeys - refusalImmediateMax) + 1; len(es) != want {
		t.Errorf("%d entries for 3,000 refusals, want %d", len(es), want)
	}
	last := es[len(es)-1]
	if !strings.Contains(last.Outcome, "repeated 1976 times from *") {
		t.Errorf("catch-all entry: %q", last.Outcome)
	}
}
