package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestChangesAndJobsAreWrittenOnce(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		c := Change{ID: "c1", Title: "openssl", State: "draft", Author: "alice", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}
		if err := db.CreateChange(ctx, c, "alice"); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetChange(ctx, "c1")
		if err != nil || got.Revision != 1 || got.State != "draft" {
			t.Fatalf("get: %+v %v", got, err)
		}
		signed := 0
		job := func(host, phase string) Job {
			return Job{ID: fmt.Sprintf("j-%s-%s-%d", host, phase, signed), ChangeID: "c1", HostID: host, Phase: phase,
				Sign: func(seq uint64) ([]byte, error) { signed++; return []byte(fmt.Sprintf(`{"seq":%d}`, seq)), nil }}
		}
		got.State, got.Engine = "running", []byte(`{"step":1}`)
		rev, err := db.UpdateChange(ctx, 1, ChangeUpdate{Change: got, Event: &ChangeEvent{At: t0, Actor: "engine", Kind: "dispatch", Detail: "2 hosts"},
			Jobs: []Job{job("h1", "install"), job("h2", "install")}}, t0)
		if err != nil || rev != 2 {
			t.Fatalf("update: %d %v", rev, err)
		}
		// A replay from the old revision is refused, and creates no job.
		if _, err := db.UpdateChange(ctx, 1, ChangeUpdate{Change: got, Jobs: []Job{job("h3", "install")}}, t0); !errors.Is(err, ErrRevisionMismatch) {
			t.Fatalf("stale update: %v", err)
		}
		// The same job decided again (after a crash) is not created twice.
		if _, err := db.UpdateChange(ctx, 2, ChangeUpdate{Change: got, Jobs: []Job{job("h1", "install"), job("h1", "reboot")}}, t0); err != nil {
			t.Fatal(err)
		}
		jobs, _ := db.ChangeJobs(ctx, "c1")
		if len(jobs) != 3 || signed != 3 {
			t.Fatalf("jobs %d, signed %d; want 3 and 3", len(jobs), signed)
		}
		// Per-host sequences: h1 has 1 (install) and 2 (reboot).
		open, err := db.OpenJobs(ctx, "h1", t0.Add(time.Minute), testGate)
		if err != nil || len(open) != 2 || open[0].Seq != 1 || open[1].Seq != 2 || string(open[1].Envelope) != `{"seq":2}` {
			t.Fatalf("open jobs of h1: %+v %v", open, err)
		}
		if _, err := db.FinishJob(ctx, "h2", open[0].ID, []byte(`{}`), t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another host finished h1's job: %v", err)
		}
		if _, err := db.FinishJob(ctx, "h1", open[0].ID, []byte(`{"ok":true}`), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FinishJob(ctx, "h1", open[0].ID, []byte(`{"ok":false}`), t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("second result: %v", err)
		}
		open, _ = db.OpenJobs(ctx, "h1", t0, testGate)
		if len(open) != 1 || open[0].Status != "delivered" {
			t.Fatalf("after finishing one: %+v", open)
		}
		hist, _ := db.ChangeHistory(ctx, "c1")
		if len(hist) != 2 || hist[1].Kind != "dispatch" {
			t.Fatalf("history: %+v", hist)
		}
		if cs, _ := db.ListChanges(ctx, "running"); len(cs) != 1 {
			t.Fatalf("running changes: %d", len(cs))
		}
	})
}
