package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
)

func hookJob(id string, seq uint64) protocol.Job {
	return protocol.Job{ID: id, HostID: thisHost, Seq: seq, ChangeID: "chg-42",
		NotBefore: jobNow.Add(-time.Minute), Expires: jobNow.Add(time.Hour), Action: protocol.ActionHook, Name: "db_backup"}
}

func newResultsAgent(t *testing.T, srv *jobServer, rec *recorder, results ResultLog, seq SeqStore) *Agent {
	t.Helper()
	url, st := startJobServer(t, srv)
	a, err := New(Config{Server: url, State: st, Collector: &detector{first: inventory.Facts{}}, Executor: rec, Journal: &MemJournal{},
		Seq: seq, Results: results, Hooks: testHooks(), Now: func() time.Time { return jobNow }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAJobOfferedAgainIsAnsweredNeverRunTwice: what a server restored
// from a backup does to an agent, step by step. A job the agent ran is
// offered again: the agent reports its earlier result. A new job whose
// sequence the restored server handed out again: the agent reports it not
// run, with its last sequence. The same job above that sequence: it runs.
func TestAJobOfferedAgainIsAnsweredNeverRunTwice(t *testing.T) {
	srv := &jobServer{}
	rec := &recorder{}
	a := newResultsAgent(t, srv, rec, &MemResults{}, &MemSeq{})
	checkin := func(offer ...protocol.Job) {
		t.Helper()
		srv.mu.Lock()
		srv.offer = nil
		for _, j := range offer {
			srv.offer = append(srv.offer, sign(t, serverKey, j))
		}
		srv.results = nil
		srv.mu.Unlock()
		if _, err := a.CheckinOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	checkin(hookJob("backup-1", 1))
	if len(rec.runs) != 1 || len(srv.results) != 1 || !srv.results[0].OK {
		t.Fatalf("first offer: ran %d, results %+v; want one run, one ok result", len(rec.runs), srv.results)
	}
	checkin(hookJob("backup-1", 1)) // the restored server offers it again
	if len(rec.runs) != 1 || len(srv.results) != 1 || srv.results[0].JobID != "backup-1" || !srv.results[0].OK || srv.results[0].NotRun {
		t.Fatalf("job offered again: ran %d times, results %+v; want its earlier ok result and no second run", len(rec.runs), srv.results)
	}
	checkin(hookJob("backup-2", 1)) // a new job on a sequence the agent passed
	if len(rec.runs) != 1 || len(srv.results) != 1 || !srv.results[0].NotRun || srv.results[0].LastSeq != 1 || srv.results[0].OK {
		t.Fatalf("new job below the agent's sequence: ran %d times, results %+v; want not_run with last_seq 1", len(rec.runs), srv.results)
	}
	checkin(hookJob("backup-2", 2)) // issued again above it
	if len(rec.runs) != 2 || len(srv.results) != 1 || !srv.results[0].OK || srv.results[0].JobID != "backup-2" {
		t.Fatalf("job issued again: ran %d times, results %+v; want it run once", len(rec.runs), srv.results)
	}
}

// TestAnAgentThatCannotTellDoesNotRun: a result log started after the
// agent had accepted jobs cannot prove a job never ran; the agent reports
// a failure instead of running it, and the file keeps the results across
// restarts.
func TestAnAgentThatCannotTellDoesNotRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job-results.json")
	log, err := OpenResultFile(path, 7)
	if err != nil {
		t.Fatal(err)
	}
	seq := &MemSeq{}
	seq.SetLastSeq(7)
	srv := &jobServer{}
	rec := &recorder{}
	a := newResultsAgent(t, srv, rec, log, seq)
	srv.offer = []protocol.Envelope{sign(t, serverKey, hookJob("old", 5))}
	if _, err := a.CheckinOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 0 || len(srv.results) != 1 || srv.results[0].OK || srv.results[0].NotRun ||
		!strings.Contains(srv.results[0].Detail, "no longer remembers whether it ran") {
		t.Fatalf("ran %d, results %+v; want a failure saying the agent cannot tell", len(rec.runs), srv.results)
	}
	srv.offer, srv.results = []protocol.Envelope{sign(t, serverKey, hookJob("new", 8))}, nil
	if _, err := a.CheckinOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	again, err := OpenResultFile(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := again.Result("new"); !ok || !r.OK || !again.Partial() {
		t.Errorf("reopened log: result %+v %v, partial %v; want the ok result of job new, partial", r, ok, again.Partial())
	}
}

func TestResultLogKeepsTheNewestAndBecomesPartial(t *testing.T) {
	var m MemResults
	for i := range resultLogSize + 1 {
		m.Record(uint64(i+1), protocol.JobResult{JobID: "j" + strings.Repeat("x", i%3) + string(rune('A'+i%26)) + time.Duration(i).String(), OK: true})
	}
	if !m.Partial() || len(m.c.Results) != resultLogSize {
		t.Errorf("after %d results: partial %v, %d kept; want partial and %d", resultLogSize+1, m.Partial(), len(m.c.Results), resultLogSize)
	}
	if _, ok := m.Result("jA0s"); ok {
		t.Error("the oldest result is still kept")
	}
}
