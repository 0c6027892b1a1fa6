package store

import (
	"context"
	"github.com/patchbay/patchbay/internal/audit"
	"testing"
	"time"
)

// The engine reads a change's results by creation time; a job created
// before the bound, a job without a result and another change's job are
// left out, and no envelope is read.
func TestFinishedChangeJobsReadsOnlyResultsSinceTheBound(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		for _, id := range []string{"c1", "c2"} {
			if err := db.CreateChange(ctx, Change{ID: id, Title: id, State: "running", Author: "alice", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		add := func(change string, rev int64, at time.Time, hosts ...string) {
			t.Helper()
			var jobs []Job
			for _, h := range hosts {
				jobs = append(jobs, Job{ID: change + "-" + h, ChangeID: change, HostID: h, Phase: "install", Envelope: []byte(`{"big":"envelope"}`)})
			}
			c, _ := db.GetChange(ctx, change)
			if _, err := db.UpdateChange(ctx, rev, ChangeUpdate{Change: c, Jobs: jobs}, at); err != nil {
				t.Fatal(err)
			}
		}
		add("c1", 1, t0, "old")
		add("c1", 2, t0.Add(time.Minute), "h1", "h2")
		add("c2", 1, t0.Add(time.Minute), "h1")
		for _, id := range []string{"c1-old", "c1-h1", "c2-h1"} {
			host := id[len(id)-2:]
			if id == "c1-old" {
				host = "old"
			}
			if _, err := db.FinishJob(ctx, host, id, []byte(`{"ok":true}`), t0.Add(2*time.Minute)); err != nil {
				t.Fatal(id, err)
			}
		}
		got, err := db.FinishedChangeJobs(ctx, "c1", t0.Add(time.Minute+500*time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != "c1-h1" || string(got[0].Result) != `{"ok":true}` || got[0].FinishedAt == nil || len(got[0].Envelope) != 0 {
			t.Fatalf("finished jobs of c1 since the bound: %+v", got)
		}
	})
}

// A batch of audit entries is appended in one transaction, each chained
// to the one before it.
func TestAppendAuditChainsABatch(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if _, err := db.AppendAudit(ctx, audit.Entry{Time: t0, Actor: "a", Action: "one", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
		recs, err := db.AppendAudit(ctx, audit.Entry{Time: t0, Actor: "a", Action: "two", Outcome: "ok"},
			audit.Entry{Time: t0, Actor: "a", Action: "three", Outcome: "ok"}, audit.Entry{Time: t0, Actor: "a", Action: "four", Outcome: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0].Seq != 2 || recs[2].Seq != 4 || recs[2].PrevHash != recs[1].Hash || recs[1].PrevHash != recs[0].Hash {
			t.Fatalf("batch: %+v", recs)
		}
		var n int
		if err := db.AuditRange(ctx, 0, 0, func(AuditRecord) error { n++; return nil }); err != nil || n != 4 {
			t.Fatalf("log holds %d records (%v), want 4", n, err)
		}
	})
}
