package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/protocol"
)

// jobServer is the agent endpoint of a server reduced to what jobs need:
// it offers the same envelopes at every check-in, as a server does until a
// result arrives (and a replaying one would forever), and records results.
type jobServer struct {
	mu       sync.Mutex
	offer    []protocol.Envelope
	checkins []inventory.Facts
	results  []protocol.JobResult
	releases map[string][]byte // PathRelease + version/os/arch → binary
}

func (s *jobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case protocol.PathCheckin:
		var req protocol.CheckinRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.checkins = append(s.checkins, req.Facts)
		json.NewEncoder(w).Encode(protocol.CheckinResponse{Revision: int64(len(s.checkins)), Jobs: s.offer})
	case protocol.PathJobResult:
		var res protocol.JobResult
		if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.results = append(s.results, res)
		w.Write([]byte("{}"))
	default:
		if b, ok := s.releases[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}
}

// startJobServer serves s over mutual TLS and returns an enrolled agent
// state for thisHost that trusts it.
func startJobServer(t *testing.T, s *jobServer) (string, *MemState) {
	t.Helper()
	now := time.Now()
	ca, _, err := pki.LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NewCSR(key, thisHost)
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, _, err := ca.SignClient(csr, thisHost, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st := &MemState{}
	st.Save(&State{HostID: thisHost, Server: srv.URL, Key: key, CertPEM: clientPEM, CAPEM: ca.PEM,
		JobKey: base64.StdEncoding.EncodeToString(serverKey.Public().(ed25519.PublicKey))})
	return srv.URL, st
}

// detector is the host's inventory as the agent collects it: the check-in
// sees what the server already knows, every later collection what the
// host's restart detector says now. With cached set, Collect keeps
// returning the first facts, as a collector reusing a cached detection
// would, and only CollectFresh detects.
type detector struct {
	mu     sync.Mutex
	calls  int
	first  inventory.Facts
	fresh  inventory.Facts
	cached bool
}

func (d *detector) Collect(context.Context) (inventory.Snapshot, error) {
	return d.collect(false)
}

func (d *detector) CollectFresh(context.Context) (inventory.Snapshot, error) {
	return d.collect(true)
}

func (d *detector) collect(fresh bool) (inventory.Snapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	f := d.fresh
	if d.calls == 1 || d.cached && !fresh {
		f = d.first
	}
	f.Hostname, f.PackageFormat = "web-1", inventory.FormatDpkg
	return inventory.Snapshot{Facts: f, Packages: []inventory.Package{{Name: "openssl", Version: "3.0.15-1~deb12u1", Arch: "amd64"}}}, nil
}

// recorder is the host: it records every command instead of running it.
type recorder struct {
	mu   sync.Mutex
	runs [][]string
	did  []string
}

func (r *recorder) Install(context.Context, []protocol.JobPackage) ([]byte, error) {
	r.note("install")
	return nil, nil
}
func (r *recorder) Reboot(context.Context) error { r.note("reboot"); return nil }
func (r *recorder) Repair(context.Context) error { r.note("repair"); return nil }
func (r *recorder) Run(_ context.Context, argv []string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, slices.Clone(argv))
	return []byte("ok\n"), nil
}
func (r *recorder) note(s string) { r.mu.Lock(); r.did = append(r.did, s); r.mu.Unlock() }

var fakeSystemctl = []string{"/usr/local/libexec/fake-systemctl", "restart"}

func newRestartAgent(t *testing.T, srv *jobServer, d *detector, rec *recorder, journal JobJournal) *Agent {
	t.Helper()
	url, st := startJobServer(t, srv)
	a, err := New(Config{Server: url, State: st, Collector: d, Executor: rec, Journal: journal, Seq: &MemSeq{},
		Hooks: testHooks(), RestartCommand: fakeSystemctl, Now: func() time.Time { return jobNow }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func restartJob(seq uint64) protocol.Job {
	return protocol.Job{ID: "restart-" + string(rune('a'+seq)), HostID: thisHost, Seq: seq, ChangeID: "chg-42",
		NotBefore: jobNow.Add(-time.Minute), Expires: jobNow.Add(time.Hour), Action: protocol.ActionRestartServices}
}

func TestRestartServicesRestartsExactlyTheUnitsTheAgentDetectsAndReportsOnce(t *testing.T) {
	srv := &jobServer{}
	srv.offer = []protocol.Envelope{sign(t, serverKey, restartJob(1))}
	// The server last heard of ssh.service (and the collector's cache still
	// says so); the upgrade since left nginx and cron on old libraries, and
	// the detector also printed junk.
	d := &detector{cached: true,
		first: inventory.Facts{ServicesNeedingRestart: []string{"ssh.service"}},
		fresh: inventory.Facts{ServicesNeedingRestart: []string{"nginx.service", "-H.service", "cron.service", "nginx.service", "x;reboot.service"}},
	}
	rec := &recorder{}
	a := newRestartAgent(t, srv, d, rec, &MemJournal{})
	for range 3 { // the server keeps offering the job; it runs once
		if _, err := a.CheckinOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]string{{"/usr/local/libexec/fake-systemctl", "restart", "--", "cron.service", "nginx.service"}}
	if !slices.EqualFunc(rec.runs, want, slices.Equal) || len(rec.did) != 0 {
		t.Errorf("ran %q and %q, want exactly %q", rec.runs, rec.did, want)
	}
	if len(srv.results) != 1 || !srv.results[0].OK || srv.results[0].JobID != "restart-b" ||
		srv.results[0].Detail != "restarted cron.service nginx.service" {
		t.Errorf("results %+v, want one ok result naming the restarted units", srv.results)
	}
}

func TestAServerCannotChooseTheUnitsTheAgentRestarts(t *testing.T) {
	base := restartJob(1)
	payload, _ := json.Marshal(base)
	withUnits := strings.Replace(string(payload), `"action":"restart_services"`, `"action":"restart_services","units":["evil.service"]`, 1)
	named := base
	named.Name, named.Seq = "evil-service", 2
	withPackages := base
	withPackages.Packages, withPackages.Seq = []protocol.JobPackage{{Name: "evil.service", Version: "1"}}, 3
	otherHost := base
	otherHost.HostID, otherHost.Seq = "another-host", 4
	expired := base
	expired.Expires, expired.NotBefore, expired.Seq = jobNow.Add(-time.Minute), jobNow.Add(-time.Hour), 5
	forged := base
	forged.Seq = 6
	hookNamedAsUnit := protocol.Job{ID: "hook-1", HostID: thisHost, Seq: 7, NotBefore: base.NotBefore, Expires: base.Expires,
		Action: protocol.ActionHook, Name: "ssh-service"}

	srv := &jobServer{offer: []protocol.Envelope{
		signRaw(serverKey, []byte(withUnits)),
		signRaw(serverKey, mustJSON(t, named)),
		signRaw(serverKey, mustJSON(t, withPackages)),
		sign(t, serverKey, otherHost),
		sign(t, serverKey, expired),
		sign(t, jobKey(9), forged),
		sign(t, serverKey, hookNamedAsUnit),
	}}
	d := &detector{fresh: inventory.Facts{ServicesNeedingRestart: []string{"nginx.service"}}}
	rec := &recorder{}
	a := newRestartAgent(t, srv, d, rec, &MemJournal{})
	if _, err := a.CheckinOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 0 || len(rec.did) != 0 || len(srv.results) != 0 {
		t.Errorf("refused jobs ran %q %q and reported %+v", rec.runs, rec.did, srv.results)
	}
}

func TestRestartServicesFailsWithoutRestartingWhenTheHostNeedsAReboot(t *testing.T) {
	srv := &jobServer{offer: []protocol.Envelope{sign(t, serverKey, restartJob(1))}}
	d := &detector{fresh: inventory.Facts{RebootRequired: true,
		RebootReasons:          []string{"needrestart: running kernel 5.15.0-88-generic, expected 5.15.0-91-generic"},
		ServicesNeedingRestart: []string{"nginx.service"}}}
	rec := &recorder{}
	a := newRestartAgent(t, srv, d, rec, &MemJournal{})
	if _, err := a.CheckinOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 0 || len(rec.did) != 0 {
		t.Errorf("ran %q %q on a host that needs a reboot", rec.runs, rec.did)
	}
	if len(srv.results) != 1 || srv.results[0].OK || !strings.Contains(srv.results[0].Detail, "needs a reboot (needrestart: running kernel 5.15.0-88-generic") {
		t.Errorf("results %+v, want one failure saying the host needs a reboot and why", srv.results)
	}
}

func TestRestartServicesWithNothingToRestartSucceedsWithoutRunningAnything(t *testing.T) {
	srv := &jobServer{offer: []protocol.Envelope{sign(t, serverKey, restartJob(1))}}
	rec := &recorder{}
	a := newRestartAgent(t, srv, &detector{}, rec, &MemJournal{})
	if _, err := a.CheckinOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 0 || len(srv.results) != 1 || !srv.results[0].OK || srv.results[0].Detail != "no service needs a restart" {
		t.Errorf("ran %q, results %+v", rec.runs, srv.results)
	}
}

func TestARestartThatRestartedTheAgentItselfIsVerifiedAndReportedOnce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		left    []string
		wantOK  bool
		wantHas string
	}{
		{"nothing left to restart: it worked", nil, true, "verified after the agent restarted"},
		{"a unit still on old code: it failed", []string{"nginx.service"}, false, "still need a restart: nginx.service"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := &jobServer{}
			journal := &MemJournal{}
			journal.Save(&JournalEntry{Job: restartJob(1), Stage: StageStarted, Result: protocol.JobResult{JobID: "restart-b"},
				Units: []string{"nginx.service", "patchbay-agent.service"}})
			d := &detector{first: inventory.Facts{ServicesNeedingRestart: tt.left}, fresh: inventory.Facts{ServicesNeedingRestart: tt.left}}
			rec := &recorder{}
			a := newRestartAgent(t, srv, d, rec, journal)
			for range 2 {
				if _, err := a.CheckinOnce(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if len(rec.runs) != 0 || len(srv.results) != 1 || srv.results[0].OK != tt.wantOK || !strings.Contains(srv.results[0].Detail, tt.wantHas) {
				t.Errorf("ran %q, results %+v", rec.runs, srv.results)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
