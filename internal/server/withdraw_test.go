package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/testenv"
)

// withDatabases runs fn on a server over SQLite and over PostgreSQL (with
// PATCHBAY_TEST_POSTGRES; skipped without it, failed under CI=true). The
// server's engine loop does not run: the test steps the engine itself.
func withDatabases(t *testing.T, clock *fakeClock, fn func(t *testing.T, ts *testServer)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newTestServerOn(t, clock, "sqlite:"+filepath.Join(t.TempDir(), "test.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, newTestServerOn(t, clock, testenv.FreshPostgres(t, testenv.Postgres(t))))
	})
}

// newTestServerOn is newTestServerAt over the database at dbURL, with no
// engine loop.
func newTestServerOn(t *testing.T, clock *fakeClock, dbURL string) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.EngineInterval = 0
	return startTestServer(t, cfg, dbURL, clock.now)
}

// runningChange stores hosts (named like their IDs) and a running change
// over them in one ring, batch size len(hosts), window open; each host's
// target is openssl for the arch archs gives it (amd64 by default).
func runningChange(t *testing.T, ts *testServer, clock *fakeClock, hosts []string, archs map[string]string) string {
	t.Helper()
	ctx := context.Background()
	now := clock.now()
	plan := rollout.Plan{Rings: []string{"production"}, BatchSize: len(hosts), JobTimeout: 30 * time.Minute,
		Windows: map[string][]rollout.Window{"web": {{Start: now.Add(-time.Hour), End: now.AddDate(0, 1, 0)}}}}
	for _, h := range hosts {
		if _, err := ts.db.GetHost(ctx, h); err != nil {
			ts.db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk-" + h, Hash: "h-" + h, Prefix: "p-" + h, ExpiresAt: now.Add(time.Hour), CreatedAt: now})
			if _, err := ts.db.EnrollHost(ctx, "h-"+h, store.Host{ID: h, Hostname: h + ".example", CertSerial: "s-" + h,
				CertNotAfter: now.AddDate(1, 0, 0), EnrolledAt: now, LastSeenAt: now}, now); err != nil {
				t.Fatal(err)
			}
		}
		arch := archs[h]
		if arch == "" {
			arch = "amd64"
		}
		plan.Hosts = append(plan.Hosts, rollout.HostPlan{HostID: h, Group: "web", Platform: "debian-12",
			Targets: []rollout.Target{{Name: "openssl", Arch: arch, Version: "3.0.15-1"}}})
	}
	st, err := rollout.New(plan)
	if err != nil {
		t.Fatal(err)
	}
	planJSON, _ := json.Marshal(plan)
	engine, _ := json.Marshal(st)
	c := store.Change{ID: uuid.NewString(), Title: "openssl", State: ChangeRunning, Author: "alice", Spec: []byte(`{}`),
		Plan: planJSON, Engine: engine, CreatedAt: now}
	if err := ts.db.CreateChange(ctx, c, "alice"); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func stepOnce(t *testing.T, ts *testServer, id string) {
	t.Helper()
	c, err := ts.db.GetChange(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.stepChange(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// handedOut is what the agent endpoint would give host now: the job IDs
// of its open jobs through the server's gate.
func handedOut(t *testing.T, ts *testServer, host string) []string {
	t.Helper()
	jobs, err := ts.db.OpenJobs(context.Background(), host, ts.Server.now(), jobGate())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.ChangeID+"/"+j.Phase)
	}
	return out
}

// jobStatuses maps each host of the change to its job's status.
func jobStatuses(t *testing.T, ts *testServer, id string) map[string]string {
	t.Helper()
	jobs, err := ts.db.ChangeJobs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range jobs {
		out[j.HostID] = j.Status
	}
	return out
}

// After a halt returns, no host of the change gets a job (the waiting ones
// were withdrawn with the halt); the one delivered before is listed as
// still out; after resume the engine issues the withdrawn installs again.
func TestHaltWithdrawsEveryUndeliveredJobUntilResume(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	withDatabases(t, clock, func(t *testing.T, ts *testServer) {
		op := ts.tokenFor(t, RoleOperator)
		hosts := []string{"web-1", "web-2", "web-3"}
		id := runningChange(t, ts, clock, hosts, nil)
		stepOnce(t, ts, id)
		if got := handedOut(t, ts, "web-1"); !slices.Equal(got, []string{id + "/install"}) {
			t.Fatalf("web-1 before the halt got %v", got)
		}
		var v ChangeView
		if code := ts.call(t, "POST", "/api/v1/changes/"+id+"/halt", op, nil, &v); code != 200 || v.State != ChangeHalted {
			t.Fatalf("halt: %d %s", code, v.State)
		}
		if len(v.JobsOut) != 1 || v.JobsOut[0].HostID != "web-1" || v.JobsOut[0].Hostname != "web-1.example" || v.JobsOut[0].Phase != "install" {
			t.Errorf("the halt's answer lists jobs out %+v, want web-1's install", v.JobsOut)
		}
		if ch, err := (consoleBackend{ts.Server}).Change(context.Background(), id); err != nil || !slices.Equal(ch.JobsOut, []string{"web-1.example (install)"}) {
			t.Errorf("the console's change page lists jobs out %q (%v), want web-1's install", ch.JobsOut, err)
		}
		// Withdrawn in the halt's own transaction (the hand-out gate would
		// refuse them too, as a second line of defence).
		if got := jobStatuses(t, ts, id); !maps.Equal(got, map[string]string{"web-1": "delivered", "web-2": "withdrawn", "web-3": "withdrawn"}) {
			t.Errorf("job statuses after the halt: %v", got)
		}
		for _, h := range hosts {
			if got := handedOut(t, ts, h); len(got) != 0 {
				t.Errorf("%s got %v after the halt returned", h, got)
			}
		}
		// The engine keeps stepping the halted change: it takes the
		// withdrawn jobs back and issues nothing.
		clock.advance(time.Minute)
		stepOnce(t, ts, id)
		for _, h := range hosts {
			if got := handedOut(t, ts, h); len(got) != 0 {
				t.Errorf("%s got %v while halted", h, got)
			}
		}
		if code := ts.call(t, "POST", "/api/v1/changes/"+id+"/resume", op, nil, &v); code != 200 || v.State != ChangeRunning {
			t.Fatalf("resume: %d %s", code, v.State)
		}
		stepOnce(t, ts, id)
		for _, h := range []string{"web-2", "web-3"} {
			if got := handedOut(t, ts, h); !slices.Equal(got, []string{id + "/install"}) {
				t.Errorf("%s after resume got %v, want its install again", h, got)
			}
		}
	})
}

// After the emergency stop returns, no host gets a job of any change;
// after release and resume, jobs flow again.
func TestEmergencyStopWithdrawsEveryUndeliveredJobUntilRelease(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	withDatabases(t, clock, func(t *testing.T, ts *testServer) {
		// The release needs a second user: both tokens act as users.
		op, admin := ts.userToken(t, "olga", RoleOperator), ts.userToken(t, "adam", RoleAdmin)
		a := runningChange(t, ts, clock, []string{"web-1", "web-2"}, nil)
		b := runningChange(t, ts, clock, []string{"db-1"}, nil)
		stepOnce(t, ts, a)
		stepOnce(t, ts, b)
		var res map[string]any
		if code := ts.call(t, "POST", "/api/v1/emergency-stop", op, []byte(`{"reason":"bad kernel"}`), &res); code != 200 {
			t.Fatalf("emergency stop: %d", code)
		}
		if res["jobs_withdrawn"] != float64(3) || res["changes_halted"] != float64(2) {
			t.Errorf("emergency stop answered %v, want 3 jobs withdrawn and 2 changes halted", res)
		}
		if got := jobStatuses(t, ts, a); !maps.Equal(got, map[string]string{"web-1": "withdrawn", "web-2": "withdrawn"}) {
			t.Errorf("job statuses of the first change after the stop: %v", got)
		}
		for _, h := range []string{"web-1", "web-2", "db-1"} {
			if got := handedOut(t, ts, h); len(got) != 0 {
				t.Errorf("%s got %v after the emergency stop returned", h, got)
			}
		}
		if code := ts.call(t, "POST", "/api/v1/emergency-stop/release", admin, nil, nil); code != 200 {
			t.Fatalf("release: %d", code)
		}
		for _, id := range []string{a, b} {
			if code := ts.call(t, "POST", "/api/v1/changes/"+id+"/resume", op, nil, nil); code != 200 {
				t.Fatalf("resume %s: %d", id, code)
			}
			stepOnce(t, ts, id)
		}
		want := map[string][]string{"web-1": {a + "/install"}, "web-2": {a + "/install"}, "db-1": {b + "/install"}}
		for h, w := range want {
			if got := handedOut(t, ts, h); !slices.Equal(got, w) {
				t.Errorf("%s after release and resume got %v, want %v", h, got, w)
			}
		}
	})
}

// One host whose reported architecture is hostile cannot get a signed job:
// it is excluded with the reason (not counted as a failure) and every
// other host of the change gets its job and finishes.
func TestHostileArchitectureExcludesOnlyThatHost(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	withDatabases(t, clock, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		op := ts.tokenFor(t, RoleOperator)
		hosts := []string{"web-1", "web-2", "web-3"}
		id := runningChange(t, ts, clock, hosts, map[string]string{"web-2": "amd64 --force-all"})
		stepOnce(t, ts, id)
		for h, want := range map[string][]string{"web-1": {id + "/install"}, "web-2": nil, "web-3": {id + "/install"}} {
			if got := handedOut(t, ts, h); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", h, got, want)
			}
		}
		jobs, _ := ts.db.ChangeJobs(ctx, id)
		for _, j := range jobs {
			res := fmt.Sprintf(`{"job_id":%q,"ok":true,"installed":{"openssl:amd64":"3.0.15-1"}}`, j.ID)
			clock.advance(time.Minute)
			if _, err := ts.db.FinishJob(ctx, j.HostID, j.ID, []byte(res), clock.now()); err != nil {
				t.Fatal(err)
			}
		}
		stepOnce(t, ts, id)
		var v ChangeView
		if code := ts.call(t, "GET", "/api/v1/changes/"+id, op, nil, &v); code != 200 {
			t.Fatalf("show: %d", code)
		}
		if v.State != ChangeAwaitingSignOff || v.Summary.Succeeded != 2 || v.Summary.Excluded != 1 || v.Summary.Failed != 0 {
			t.Fatalf("change %s, summary %+v; want awaiting-signoff, 2 succeeded, 1 excluded, none failed", v.State, v.Summary)
		}
		for _, h := range v.Hosts {
			if h.HostID == "web-2" && (h.Status != string(rollout.HostExcluded) || h.Detail == "" ||
				!strings.Contains(h.Detail, `excluded: its job cannot be built`) || !strings.Contains(h.Detail, "arch")) {
				t.Errorf("web-2: %s %q; want excluded with the reason", h.Status, h.Detail)
			}
		}
	})
}

// When the engine halts a change by itself (a failure past the budget),
// the jobs of the same batch not yet delivered are withdrawn with that
// step, and the engine puts those hosts back among the pending ones
// instead of letting their jobs time out as failures.
func TestEngineHaltWithdrawsTheUndeliveredRestOfTheBatch(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	withDatabases(t, clock, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		id := runningChange(t, ts, clock, []string{"web-1", "web-2", "web-3"}, nil)
		stepOnce(t, ts, id)
		handedOut(t, ts, "web-1")
		jobs, _ := ts.db.ChangeJobs(ctx, id)
		for _, j := range jobs {
			if j.HostID == "web-1" {
				clock.advance(time.Minute)
				if _, err := ts.db.FinishJob(ctx, "web-1", j.ID, []byte(fmt.Sprintf(`{"job_id":%q,"ok":false,"detail":"dpkg error"}`, j.ID)), clock.now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		stepOnce(t, ts, id) // applies the failure: over the budget of 0, halted
		if got := jobStatuses(t, ts, id); !maps.Equal(got, map[string]string{"web-1": "done", "web-2": "withdrawn", "web-3": "withdrawn"}) {
			t.Errorf("job statuses after the engine halted: %v", got)
		}
		stepOnce(t, ts, id) // takes the withdrawals back
		c, _ := ts.db.GetChange(ctx, id)
		var st rollout.State
		if err := json.Unmarshal(c.Engine, &st); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"web-2", "web-3"} {
			if hv, _ := st.Host(h); hv.Status != rollout.HostPending || hv.Dispatched {
				t.Errorf("%s is %s (dispatched %v), want pending again", h, hv.Status, hv.Dispatched)
			}
		}
		if c.State != ChangeHalted {
			t.Errorf("change %s, want halted", c.State)
		}
	})
}
