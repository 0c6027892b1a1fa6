package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQuarantineIsSetOncePerPeriodWithItsJobAndAuditEntry(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		job := func(id, phase string) Job {
			return Job{ID: id, HostID: "h1", Phase: phase, Sign: func(seq uint64) ([]byte, error) { return []byte(`{"q":1}`), nil }}
		}
		if _, err := db.HostQuarantine(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("HostQuarantine before any: %v, want ErrNotFound", err)
		}
		actx, p := auditedCtx("host.quarantine")
		if err := db.SetQuarantined(actx, "h1", true, "isolate", "CVE-2026-1 past due", job("q1", "quarantine-1"), t0); err != nil {
			t.Fatal(err)
		}
		if len(p.Stored()) != 1 {
			t.Fatalf("stored audit entries %d, want 1", len(p.Stored()))
		}
		// A second pass (or another replica) finds it done.
		if err := db.SetQuarantined(ctx, "h1", true, "isolate", "again", job("q2", "quarantine-2"), t0.Add(time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("second quarantine: %v, want ErrConflict", err)
		}
		q, err := db.HostQuarantine(ctx, "h1")
		if err != nil || !q.Active() || !q.QuarantinedAt.Equal(t0) || q.Hook != "isolate" || q.Reason != "CVE-2026-1 past due" {
			t.Fatalf("state %+v %v", q, err)
		}
		// The job has no change and is delivered all the same, unless the
		// emergency stop is on.
		open, err := db.OpenJobs(ctx, "h1", t0, testGate)
		if err != nil || len(open) != 1 || open[0].ID != "q1" || open[0].ChangeID != "" || string(open[0].Envelope) != `{"q":1}` {
			t.Fatalf("open jobs %+v %v; want q1 only", open, err)
		}
		released := t0.Add(2 * time.Hour)
		if err := db.SetQuarantined(ctx, "h1", false, "isolate", "compliant", job("r1", "release-1"), released); err != nil {
			t.Fatal(err)
		}
		if err := db.SetQuarantined(ctx, "h1", false, "isolate", "compliant", job("r2", "release-2"), released); !errors.Is(err, ErrConflict) {
			t.Fatalf("second release: %v, want ErrConflict", err)
		}
		all, err := db.Quarantines(ctx)
		if err != nil || len(all) != 1 || all["h1"].Active() || all["h1"].ReleasedAt == nil || !all["h1"].ReleasedAt.Equal(released) {
			t.Fatalf("quarantines %+v %v", all, err)
		}
		if err := db.SetFlag(ctx, Flag{Name: "emergency-stop", On: true}); err != nil {
			t.Fatal(err)
		}
		if open, _ := db.OpenJobs(ctx, "h1", t0, testGate); len(open) != 0 {
			t.Fatalf("open jobs during an emergency stop: %+v", open)
		}
		// A new period starts a new quarantine.
		if err := db.SetQuarantined(ctx, "h1", true, "isolate", "CVE-2026-2 past due", job("q3", "quarantine-3"), released.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if q, _ := db.HostQuarantine(ctx, "h1"); !q.Active() || !q.QuarantinedAt.Equal(released.Add(time.Hour)) {
			t.Fatalf("second period %+v", q)
		}
	})
}
