package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// testGate is the server's gate, written out: jobs of running and
// rolling-back changes, rollbacks of halted ones too, nothing during the
// emergency stop.
var testGate = JobGate{Deliver: []string{"running", "rolling-back"}, RollbacksIn: []string{"halted"}, StopFlag: "emergency-stop"}

func openIDs(t *testing.T, db *DB, host string, at time.Time) []string {
	t.Helper()
	jobs, err := db.OpenJobs(context.Background(), host, at, testGate)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

// A halt withdraws, in its own transaction, every job of the change not
// yet delivered: afterwards no host gets one. A delivered job stays out
// (OutJobs). The engine's next decision replaces a withdrawn job.
func TestHaltWithdrawsUndeliveredJobsOfTheChange(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		for _, id := range []string{"c1", "c2"} {
			if err := db.CreateChange(ctx, Change{ID: id, Title: id, State: "running", Author: "alice", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		write := func(id string, state string, withdraw bool, jobs ...Job) {
			t.Helper()
			c, err := db.GetChange(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			c.State = state
			if _, err := db.UpdateChange(ctx, c.Revision, ChangeUpdate{Change: c, Jobs: jobs, WithdrawJobs: withdraw}, t0); err != nil {
				t.Fatal(err)
			}
		}
		job := func(change, host, phase, id string) Job {
			return Job{ID: id, ChangeID: change, HostID: host, Phase: phase,
				Sign: func(seq uint64) ([]byte, error) { return []byte(fmt.Sprintf(`{"seq":%d}`, seq)), nil }}
		}
		write("c1", "running", false, job("c1", "h1", "install", "c1-h1"), job("c1", "h2", "install", "c1-h2"), job("c1", "h3", "install", "c1-h3"))
		write("c2", "running", false, job("c2", "h1", "install", "c2-h1"))
		// h1 checks in before the halt: its job of c1 (and of c2) is delivered.
		if got := openIDs(t, db, "h1", t0); !slices.Equal(got, []string{"c1-h1", "c2-h1"}) {
			t.Fatalf("h1 before the halt got %v", got)
		}
		write("c1", "halted", true)
		for _, h := range []string{"h2", "h3"} {
			if got := openIDs(t, db, h, t0.Add(time.Minute)); len(got) != 0 {
				t.Fatalf("%s got %v after c1 was halted", h, got)
			}
		}
		if got := openIDs(t, db, "h1", t0.Add(time.Minute)); !slices.Equal(got, []string{"c2-h1"}) {
			t.Fatalf("h1 after c1 was halted got %v, want only c2's job", got)
		}
		out, _ := db.OutJobs(ctx, "c1")
		if len(out) != 1 || out[0].HostID != "h1" {
			t.Fatalf("jobs still out: %+v", out)
		}
		settled, _ := db.FinishedChangeJobs(ctx, "c1", t0)
		var withdrawn []string
		for _, j := range settled {
			if j.Status == "withdrawn" {
				withdrawn = append(withdrawn, j.HostID)
			}
		}
		slices.Sort(withdrawn)
		if !slices.Equal(withdrawn, []string{"h2", "h3"}) {
			t.Fatalf("withdrawn %v, want h2 h3", withdrawn)
		}
		// Resumed: the engine decides h2's install again; it replaces the
		// withdrawn job with the host's next sequence number.
		write("c1", "running", false, job("c1", "h2", "install", "c1-h2-again"))
		jobs, err := db.OpenJobs(ctx, "h2", t0.Add(2*time.Minute), testGate)
		if err != nil || len(jobs) != 1 || jobs[0].ID != "c1-h2-again" || jobs[0].Seq != 2 || string(jobs[0].Envelope) != `{"seq":2}` {
			t.Fatalf("h2 after resume: %+v %v", jobs, err)
		}
	})
}

// The hand-out path refuses jobs of a change that is not running, except
// rollbacks of a halted one, and every job while the emergency stop is on;
// the stop withdraws waiting jobs of every change in the same transaction.
func TestOpenJobsGateAndEmergencyStop(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		states := map[string]string{"run": "running", "rb": "rolling-back", "halt": "halted", "done": "awaiting-signoff"}
		for id := range states {
			if err := db.CreateChange(ctx, Change{ID: id, Title: id, State: "running", Author: "alice", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}, "alice"); err != nil {
				t.Fatal(err)
			}
			c, _ := db.GetChange(ctx, id)
			c.State = states[id]
			jobs := []Job{{ID: id + "-install", ChangeID: id, HostID: "h-" + id, Phase: "install", Envelope: []byte(`{}`)},
				{ID: id + "-rollback", ChangeID: id, HostID: "h-" + id, Phase: "rollback", Envelope: []byte(`{}`)}}
			if _, err := db.UpdateChange(ctx, c.Revision, ChangeUpdate{Change: c, Jobs: jobs}, t0); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string][]string{
			"run":  {"run-install", "run-rollback"},
			"rb":   {"rb-install", "rb-rollback"},
			"halt": {"halt-rollback"},
			"done": nil,
		}
		// During the emergency stop nothing goes out, and the waiting jobs
		// are withdrawn at once.
		n, err := db.SetFlagWithdrawingJobs(ctx, Flag{Name: "emergency-stop", On: true, By: "alice", At: t0, Note: "test"})
		if err != nil || n != 8 {
			t.Fatalf("emergency stop withdrew %d jobs, %v; want 8", n, err)
		}
		for id := range states {
			if got := openIDs(t, db, "h-"+id, t0); len(got) != 0 {
				t.Fatalf("%s during the emergency stop: %v", id, got)
			}
		}
		if _, err := db.SetFlagWithdrawingJobs(ctx, Flag{Name: "emergency-stop", On: false, By: "bob", At: t0, Note: "released"}); err != nil {
			t.Fatal(err)
		}
		// Released: the engine decides again and the gate applies.
		for id := range states {
			c, _ := db.GetChange(ctx, id)
			jobs := []Job{{ID: id + "-install", ChangeID: id, HostID: "h-" + id, Phase: "install", Envelope: []byte(`{}`)},
				{ID: id + "-rollback", ChangeID: id, HostID: "h-" + id, Phase: "rollback", Envelope: []byte(`{}`)}}
			if _, err := db.UpdateChange(ctx, c.Revision, ChangeUpdate{Change: c, Jobs: jobs}, t0); err != nil {
				t.Fatal(err)
			}
		}
		for id, w := range want {
			if got := openIDs(t, db, "h-"+id, t0); !slices.Equal(got, w) {
				t.Fatalf("%s (%s) after release: %v, want %v", id, states[id], got, w)
			}
		}
	})
}
