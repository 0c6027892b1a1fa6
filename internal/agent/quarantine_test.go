package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
)

func TestQuarantineAndReleaseRunTheDeclaredHookWithTheActionAsItsArgument(t *testing.T) {
	job := func(seq uint64, id string, a protocol.Action, name string) protocol.Job {
		return protocol.Job{ID: id, HostID: thisHost, Seq: seq, NotBefore: jobNow.Add(-time.Minute),
			Expires: jobNow.Add(time.Hour), Action: a, Name: name}
	}
	srv := &jobServer{offer: []protocol.Envelope{
		sign(t, serverKey, job(1, "q-1", protocol.ActionQuarantine, "db_backup")),
		sign(t, serverKey, job(2, "q-2", protocol.ActionQuarantine, "isolate")), // not declared here
		sign(t, serverKey, job(3, "r-1", protocol.ActionRelease, "db_backup")),
	}}
	rec := &recorder{}
	a := newRestartAgent(t, srv, &detector{}, rec, &MemJournal{})
	for range 2 { // offered twice, each runs once
		if _, err := a.CheckinOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]string{{"/usr/local/sbin/db-backup", "quarantine"}, {"/usr/local/sbin/db-backup", "release"}}
	if !slices.EqualFunc(rec.runs, want, slices.Equal) {
		t.Errorf("ran %q, want %q", rec.runs, want)
	}
	var ids []string
	for _, r := range srv.results {
		if !r.OK {
			t.Errorf("result %+v, want ok", r)
		}
		ids = append(ids, r.JobID)
	}
	if !slices.Equal(ids, []string{"q-1", "r-1"}) {
		t.Errorf("results for %q, want q-1 and r-1 (the undeclared hook is refused)", ids)
	}
}
