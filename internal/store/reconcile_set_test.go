package store

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

func markString(ms []ReconcileMark) string {
	s := ""
	for _, m := range ms {
		s += m.HostID + "@" + string(rune('0'+m.Gen)) + " "
	}
	return s
}

// The set of hosts to reconcile: check-ins that change a host mark it, a
// mark read and then renewed survives the worker's delete, a failed host
// is put off until a new mark, and the set outlives the process.
func TestHostsToReconcile(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, u string) {
		ctx := context.Background()
		enrollHosts(t, db, 3)
		due := func(at time.Time) string {
			t.Helper()
			ms, err := db.HostsToReconcile(ctx, at, 10)
			if err != nil {
				t.Fatal(err)
			}
			return markString(ms)
		}
		at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
		full := Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pBash}}
		if _, err := db.ApplyCheckin(ctx, "h01", full, at(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyCheckin(ctx, "h00", full, at(2)); err != nil {
			t.Fatal(err)
		}
		if got := due(at(2)); got != "h01@1 h00@1 " {
			t.Fatalf("after two full reports: %q", got)
		}
		// A check-in that changes nothing marks nothing.
		if _, err := db.ApplyCheckin(ctx, "h02", Checkin{Facts: ubuntuFacts()}, at(3)); err != nil {
			t.Fatal(err)
		}
		// The worker reads h01@1; meanwhile h01 changes again.
		if _, err := db.ApplyCheckin(ctx, "h01", Checkin{Facts: ubuntuFacts(), BaseRevision: 1, Upserts: []inventory.Package{pTzdata}}, at(4)); err != nil {
			t.Fatal(err)
		}
		if n, err := db.DoneReconciling(ctx, ReconcileMark{"h01", 1}, ReconcileMark{"h00", 1}); err != nil || n != 1 {
			t.Fatalf("clearing h01 (renewed since) and h00: %d cleared, %v; want 1 (h00)", n, err)
		}
		if got := due(at(4)); got != "h01@2 " {
			t.Fatalf("after the worker's deletes: %q", got)
		}
		// Changed updates alone mark the host too.
		if _, err := db.ApplyCheckin(ctx, "h00", Checkin{Facts: ubuntuFacts(), BaseRevision: 1, UpdatesChanged: true,
			Updates: []Update{{Name: "bash", Arch: "amd64", Version: "5.2", Repo: "x"}}}, at(5)); err != nil {
			t.Fatal(err)
		}
		// A failed reconcile is put off; a new mark brings it back at once.
		if err := db.PutOffReconciling(ctx, ReconcileMark{"h01", 2}, at(30)); err != nil {
			t.Fatal(err)
		}
		if got := due(at(6)); got != "h00@1 " {
			t.Fatalf("with h01 put off: %q", got)
		}
		if got := due(at(30)); got != "h01@2 h00@1 " { // oldest mark first
			t.Fatalf("once h01's delay is over: %q", got)
		}
		if err := db.MarkHostsToReconcile(ctx, at(7), "h01", "h02", "no-such-host"); err != nil {
			t.Fatal(err)
		}
		if got := due(at(7)); got != "h00@1 h01@3 h02@1 " {
			t.Fatalf("after marking h01 again and h02: %q", got)
		}
		// A restart resumes the set.
		db.Close()
		db2 := mustOpen(t, u)
		ms, err := db2.HostsToReconcile(ctx, at(7), 10)
		if err != nil || markString(ms) != "h00@1 h01@3 h02@1 " {
			t.Fatalf("after reopening: %q, %v", markString(ms), err)
		}
		if n, err := db2.CountHostsToReconcile(ctx); err != nil || n != 3 {
			t.Fatalf("count: %d, %v", n, err)
		}
		ms, _ = db2.HostsToReconcile(ctx, at(7), 2)
		if len(ms) != 2 {
			t.Fatalf("limit 2: %d marks", len(ms))
		}
	})
}
