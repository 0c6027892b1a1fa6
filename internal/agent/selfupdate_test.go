package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
)

// fakeUpdater records what the agent asks of a self-updater; Restart
// fails, as exec would in a test, and the test starts the "next process".
type fakeUpdater struct {
	checkErr error
	info     ReleaseInfo
	note     []byte
	binary   []byte
	deadline time.Time
	restarts int
}

func (f *fakeUpdater) Check(note []byte) (ReleaseInfo, error) {
	f.note = note
	return f.info, f.checkErr
}

func (f *fakeUpdater) Install(note, binary []byte, deadline time.Time) error {
	f.binary, f.deadline = binary, deadline
	return nil
}

func (f *fakeUpdater) Restart() error {
	f.restarts++
	return errors.New("no exec in a test")
}

var releaseNote = []byte("patchbay-agent release\nversion v1.1.0\n\n— patchbay-release sig\n")

func agentUpdateJob(seq uint64) protocol.Job {
	return protocol.Job{ID: "upd-1", HostID: thisHost, Seq: seq, ChangeID: "chg-7",
		NotBefore: jobNow.Add(-time.Minute), Expires: jobNow.Add(40 * time.Minute), Action: protocol.ActionAgentUpdate, Release: releaseNote}
}

// updateHost is one host's state, journal, sequence and result log, which
// every agent process on it shares.
type updateHost struct {
	url     string
	st      *MemState
	journal *MemJournal
	seq     *MemSeq
	results *MemResults
}

// agent is a process on h running version, with updater u (nil: none).
func (h *updateHost) agent(t *testing.T, version string, u SelfUpdater) *Agent {
	t.Helper()
	cfg := Config{Server: h.url, State: h.st, Collector: &detector{first: inventory.Facts{}}, Executor: &recorder{}, Journal: h.journal,
		Seq: h.seq, Results: h.results, Now: func() time.Time { return jobNow }, AgentVersion: version, AgentPlatform: "linux/amd64"}
	if u != nil {
		cfg.SelfUpdate = u
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newUpdateHost(t *testing.T, srv *jobServer) *updateHost {
	url, st := startJobServer(t, srv)
	return &updateHost{url: url, st: st, journal: &MemJournal{}, seq: &MemSeq{}, results: &MemResults{}}
}

func TestAgentUpdateSwapsThenTheNextBinaryReportsIt(t *testing.T) {
	binary := []byte("\x7fELF patchbay-agent v1.1.0")
	for _, tc := range []struct {
		name, next string // the version the next process runs
		ok         bool
		detail     string
	}{
		{"the new binary checks in", "v1.1.0", true, "patchbay-agent v1.1.0 checked in"},
		{"the previous binary is back", "v1.0.0", false, "patchbay-agent v1.1.0 did not check in by its deadline (or kept crashing at start); the previous binary (v1.0.0) is back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &jobServer{releases: map[string][]byte{PathRelease + "v1.1.0/linux/amd64": binary}}
			h := newUpdateHost(t, srv)
			srv.offer = []protocol.Envelope{sign(t, serverKey, agentUpdateJob(1))}
			u := &fakeUpdater{info: ReleaseInfo{Version: "v1.1.0", OS: "linux", Arch: "amd64", Size: int64(len(binary))}}
			_, err := h.agent(t, "v1.0.0", u).CheckinOnce(t.Context())
			if err == nil || !strings.Contains(err.Error(), "restarting into it failed") {
				t.Fatalf("CheckinOnce = %v; want the failed restart (the test has no exec)", err)
			}
			// 40 minutes to the job's expiry: the trial ends 30 minutes in.
			if string(u.note) != string(releaseNote) || string(u.binary) != string(binary) || !u.deadline.Equal(jobNow.Add(30*time.Minute)) || u.restarts != 1 {
				t.Fatalf("updater saw note %q, binary %q, deadline %v, %d restarts", u.note, u.binary, u.deadline, u.restarts)
			}
			if len(srv.results) != 0 {
				t.Fatalf("results %+v before the next binary ran; want none", srv.results)
			}
			if e, _ := h.journal.Load(); e == nil || e.Stage != StageSwapped {
				t.Fatalf("journal %+v, want the job swapped", e)
			}
			next := &fakeUpdater{}
			if _, err := h.agent(t, tc.next, next).CheckinOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			// The fake server offers the job again in the same answer (a real
			// one has the result by then): the agent answers it from its
			// result log, with the same result, and never runs it again.
			if len(srv.results) == 0 {
				t.Fatal("no result after the next binary's check-in")
			}
			for _, r := range srv.results {
				if r.JobID != "upd-1" || r.OK != tc.ok || r.Detail != tc.detail || len(r.Installed) != 1 || r.Installed["patchbay-agent"] != tc.next {
					t.Fatalf("results %+v; want upd-1 ok=%v %q with patchbay-agent %s", srv.results, tc.ok, tc.detail, tc.next)
				}
			}
			if next.note != nil || next.restarts != 0 {
				t.Error("the job offered again ran a second time")
			}
			if last := srv.checkins[len(srv.checkins)-1]; last.AgentVersion != tc.next || last.AgentPlatform != "linux/amd64" {
				t.Errorf("check-in facts say agent %q on %q, want %s on linux/amd64", last.AgentVersion, last.AgentPlatform, tc.next)
			}
		})
	}
}

func TestAgentUpdateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		u      SelfUpdater
		detail string
	}{
		{"the note does not verify", &fakeUpdater{checkErr: errors.New("release is not signed by the pinned release key")},
			"self-update refused: release is not signed by the pinned release key"},
		{"an agent that cannot update itself", nil, "this agent cannot update itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &jobServer{}
			h := newUpdateHost(t, srv)
			srv.offer = []protocol.Envelope{sign(t, serverKey, agentUpdateJob(1))}
			if _, err := h.agent(t, "v1.0.0", tc.u).CheckinOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(srv.results) != 1 || srv.results[0].OK || !strings.Contains(srv.results[0].Detail, tc.detail) {
				t.Fatalf("results %+v; want one failure saying %q", srv.results, tc.detail)
			}
			if f, ok := tc.u.(*fakeUpdater); ok && (f.binary != nil || f.restarts != 0) {
				t.Error("a refused release was installed")
			}
		})
	}
}
