package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestReissueJobMovesAJobAboveTheAgentsSequence: an agent whose sequence
// ran ahead of a restored database refused job j1 unrun at sequence 1; the
// job gets sequence 8 (above the agent's 7), pending again with a new
// envelope, and the host's next job 9. A second report changes nothing; a
// finished job is not reissued.
func TestReissueJobMovesAJobAboveTheAgentsSequence(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		c := Change{ID: "c1", Title: "bash", State: "running", Author: "alice", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}
		if err := db.CreateChange(ctx, c, "alice"); err != nil {
			t.Fatal(err)
		}
		sign := func(seq uint64) ([]byte, error) { return []byte(fmt.Sprintf(`{"seq":%d}`, seq)), nil }
		resign := func(seq uint64, old []byte) ([]byte, error) {
			return []byte(fmt.Sprintf(`{"seq":%d,"was":%s}`, seq, old)), nil
		}
		got, _ := db.GetChange(ctx, "c1")
		if _, err := db.UpdateChange(ctx, got.Revision, ChangeUpdate{Change: got, Jobs: []Job{{ID: "j1", ChangeID: "c1", HostID: "h1", Phase: "install", Sign: sign}}}, t0); err != nil {
			t.Fatal(err)
		}
		if open, err := db.OpenJobs(ctx, "h1", t0, testGate); err != nil || len(open) != 1 || open[0].Seq != 1 {
			t.Fatalf("open jobs: %+v %v", open, err)
		}
		seq, err := db.ReissueJob(ctx, "h1", "j1", 7, resign, t0.Add(time.Minute))
		if err != nil || seq != 8 {
			t.Fatalf("reissue: seq %d, %v; want 8", seq, err)
		}
		open, err := db.OpenJobs(ctx, "h1", t0, testGate)
		if err != nil || len(open) != 1 || open[0].Seq != 8 || string(open[0].Envelope) != `{"seq":8,"was":{"seq":1}}` {
			t.Fatalf("open jobs after the reissue: %+v %v", open, err)
		}
		if seq, err := db.ReissueJob(ctx, "h1", "j1", 7, resign, t0); err != nil || seq != 8 {
			t.Fatalf("the same refusal reported twice: seq %d, %v; want 8 unchanged", seq, err)
		}
		got, _ = db.GetChange(ctx, "c1")
		if _, err := db.UpdateChange(ctx, got.Revision, ChangeUpdate{Change: got, Jobs: []Job{{ID: "j2", ChangeID: "c1", HostID: "h1", Phase: "reboot", Sign: sign}}}, t0); err != nil {
			t.Fatal(err)
		}
		jobs, _ := db.ChangeJobs(ctx, "c1")
		if len(jobs) != 2 || jobs[1].ID != "j2" || jobs[1].Seq != 9 {
			t.Fatalf("the next job of the host: %+v, want j2 at sequence 9", jobs)
		}
		if _, err := db.FinishJob(ctx, "h1", "j1", []byte(`{"ok":true}`), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReissueJob(ctx, "h1", "j1", 20, resign, t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("reissue of a finished job: %v, want ErrConflict", err)
		}
		if _, err := db.ReissueJob(ctx, "h2", "j2", 20, resign, t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another host reissued h1's job: %v, want ErrNotFound", err)
		}
	})
}
