package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/rpmtest"
)

// TestRollbackWithRealApt: the three-ring scenario without a failing host.
// A whole-change rollback asked for while the production ring is under
// way stops forward dispatch at once (production-2, which had not
// checked in, never gets its install) and restores every touched host to
// exactly 1.0-1 in its dpkg status; the change ends rolled-back. A
// rollback of a completed change (every host verified at 1.1-1 and every
// group signed off) does the same for all six hosts.
func TestRollbackWithRealApt(t *testing.T) {
	requireRealApt(t)
	sp := startRingServer(t)
	r := aptHelloRing(t, sp)
	r.rollbackScenarios(t, func(t *testing.T, root string) string { return debtest.InstalledVersion(t, root, "pbtest-hello") })
}

// TestRollbackWithRealDnf is TestRollbackWithRealApt with dnf and rpm: the
// versions are read from each root's own rpm database.
func TestRollbackWithRealDnf(t *testing.T) {
	rpmtest.Require(t)
	sp := startRingServer(t)
	work := t.TempDir()
	repo := rpmHelloRepo(t, work, "")
	r := newRingRollout(t, sp, work, func(h ringHost) { almaHelloRoot(t, h, repo) })
	r.rollbackScenarios(t, func(t *testing.T, root string) string { return rpmtest.InstalledVersion(t, root, "pbtest-hello") })
}

// rollbackScenarios runs the two rollbacks one after the other on the same
// six hosts; installed reads pbtest-hello's version in a root.
func (r *ringRollout) rollbackScenarios(t *testing.T, installed func(t *testing.T, root string) string) {
	ids := r.hostIDs()
	versions := func(t *testing.T) map[string]string {
		out := map[string]string{}
		for _, h := range r.hosts {
			out[h.name] = installed(t, h.root)
		}
		return out
	}
	all := func(v string) map[string]string {
		out := map[string]string{}
		for _, h := range r.hosts {
			out[h.name] = v
		}
		return out
	}
	testAndPilot := []string{"test-1", "test-2", "pilot-1", "pilot-2"}

	t.Run("requested during the production ring", func(t *testing.T) {
		r.t = t
		r.createAndSubmit()
		r.approveAndStart()
		// Test and pilot hosts run until the engine has decided
		// production's installs.
		r.runUntil(t, 3*time.Minute, testAndPilot, func(v changeView) bool {
			return v.Summary != nil && v.Summary.Ring == "production" && r.hostStatus(v, ids["production-1"]) == "in-flight"
		})
		// production-1 receives its install and runs it; production-2 has
		// not checked in yet when the rollback is asked for.
		r.runAgents(t, "production-1")
		want := all("1.1-1")
		want["production-2"] = "1.0-1"
		if got := versions(t); !maps.Equal(got, want) {
			t.Fatalf("before the rollback: %v, want %v", got, want)
		}
		r.as(r.alice, "changes", "rollback", r.changeID)
		v := r.runUntil(t, 3*time.Minute, nil, func(v changeView) bool {
			return v.State == "rolled-back" || v.State == "rollback-failed"
		})
		if v.State != "rolled-back" || v.Summary == nil || v.Summary.Status != "rolled-back" {
			t.Fatalf("after the rollback the change is %s (%+v), want rolled-back\n%s", v.State, v.Summary, r.as(r.alice, "changes", "show", r.changeID))
		}
		if got := versions(t); !maps.Equal(got, all("1.0-1")) {
			t.Errorf("after the rollback: %v, want every host at exactly 1.0-1", got)
		}
		if st := r.hostStatus(v, ids["production-2"]); st != "pending" {
			t.Errorf("production-2 is %s; it must never have got its install", st)
		}
		var rolled []string
		for name, id := range ids {
			if r.hostStatus(v, id) == "rolled-back" {
				rolled = append(rolled, name)
			}
		}
		slices.Sort(rolled)
		if want := []string{"pilot-1", "pilot-2", "production-1", "test-1", "test-2"}; !slices.Equal(rolled, want) {
			t.Errorf("rolled back %v, want %v", rolled, want)
		}
		r.runAgents(t) // report the restored inventories
	})

	t.Run("requested after every group signed off (completed)", func(t *testing.T) {
		r.t = t
		r.createAndSubmit()
		r.approveAndStart()
		v, failed := r.runUntilStopped(3 * time.Minute)
		if v.State != "awaiting-signoff" || failed != "" {
			t.Fatalf("the change is %s (failed: %q), want awaiting-signoff", v.State, failed)
		}
		if got := versions(t); !maps.Equal(got, all("1.1-1")) {
			t.Fatalf("before the rollback: %v, want every host at 1.1-1", got)
		}
		for _, g := range []string{"web-test", "web-pilot", "web-prod"} {
			r.as(r.sam, "changes", "signoff", r.changeID, "--group", g, "--ok")
		}
		if v = r.state(); v.State != "completed" {
			t.Fatalf("after every group signed off the change is %s, want completed", v.State)
		}
		r.as(r.alice, "changes", "rollback", r.changeID)
		v = r.runUntil(t, 3*time.Minute, nil, func(v changeView) bool {
			return v.State == "rolled-back" || v.State == "rollback-failed"
		})
		if v.State != "rolled-back" || v.Summary == nil || v.Summary.Status != "rolled-back" {
			t.Fatalf("after the rollback the change is %s (%+v), want rolled-back\n%s", v.State, v.Summary, r.as(r.alice, "changes", "show", r.changeID))
		}
		if got := versions(t); !maps.Equal(got, all("1.0-1")) {
			t.Errorf("after the rollback: %v, want every host at exactly 1.0-1", got)
		}
		for name, id := range ids {
			if st := r.hostStatus(v, id); st != "rolled-back" {
				t.Errorf("%s is %s, want rolled-back", name, st)
			}
		}
	})
}

// hostIDs maps the hosts' names to their IDs.
func (r *ringRollout) hostIDs() map[string]string {
	r.t.Helper()
	var hosts []struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
	}
	json.Unmarshal([]byte(r.sp.mustCLI(r.t, "hosts", "list", "-o", "json")), &hosts)
	ids := map[string]string{}
	for _, h := range hosts {
		ids[h.Hostname] = h.ID
	}
	for _, h := range r.hosts {
		if ids[h.name] == "" {
			r.t.Fatalf("no host named %s among %+v", h.name, hosts)
		}
	}
	return ids
}

func (r *ringRollout) hostStatus(v changeView, id string) string {
	for _, h := range v.Hosts {
		if h.HostID == id {
			return h.Status
		}
	}
	return ""
}

// runAgents has the named hosts (every host if none) check in once and
// run their jobs, all at the same time, as a fleet does.
func (r *ringRollout) runAgents(t *testing.T, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]string, len(r.hosts))
	for i, h := range r.hosts {
		if len(names) > 0 && !slices.Contains(names, h.name) {
			continue
		}
		wg.Go(func() {
			if out, err := r.sp.agentJobsRun(t, h.state, h.root, ""); err != nil {
				errs[i] = fmt.Sprintf("agent %s: %v\n%s", h.name, err, out)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
}

// runUntil runs the named hosts' agents (every host if none) round after
// round until the change view satisfies done, and returns that view; it
// fails the test when that does not happen within the time given.
func (r *ringRollout) runUntil(t *testing.T, within time.Duration, names []string, done func(changeView) bool) changeView {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if v := r.state(); done(v) {
			return v
		}
		r.runAgents(t, names...)
	}
	t.Fatalf("the change did not get there in %s:\n%s", within, r.as(r.alice, "changes", "show", r.changeID))
	return changeView{}
}

// TestHostileArchitectureDoesNotBlockTheOthersWithRealApt: a seventh host,
// pilot-3, speaks the real protocol but reports pbtest-hello with the
// architecture "amd64 --force-all" (a real agent's inventory refuses such
// a line, so this one is a hostile agent with its own collector). No job
// may carry that string, but the six real hosts are patched to 1.1-1 by
// their real agents and the change completes; pilot-3 is excluded, from
// the plan or by the engine step, with the reason in the change view.
func TestHostileArchitectureDoesNotBlockTheOthersWithRealApt(t *testing.T) {
	requireRealApt(t)
	sp := startRingServer(t)
	r := aptHelloRing(t, sp)
	hostile, err := agent.New(agent.Config{Server: sp.url, EnrollToken: sp.enrollToken(t, "--label", "ring=pilot"),
		CAFile: filepath.Join(sp.dataDir, "ca.crt"), State: &agent.MemState{}, Collector: forceAllCollector{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := hostile.Enroll(t.Context(), "pilot-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := hostile.CheckinOnce(t.Context()); err != nil {
		t.Fatalf("the hostile host's check-in: %v", err)
	}
	var ch struct{ ID string }
	json.Unmarshal([]byte(r.as(r.alice, "changes", "create", "pbtest-hello 1.1", "--group", "web-test", "--group", "web-pilot",
		"--group", "web-prod", "--package", "pbtest-hello@1.1-1", "--batch", "2", "--failure-budget", "0",
		"--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	if ch.ID == "" {
		t.Fatal("no change created")
	}
	r.changeID = ch.ID
	r.as(r.alice, "changes", "submit", ch.ID)
	r.approveAndStart()
	v := r.runUntil(t, 3*time.Minute, nil, func(v changeView) bool { return v.State == "awaiting-signoff" || v.State == "halted" })
	if v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Failed != 0 {
		t.Fatalf("the change is %s (%+v), want awaiting-signoff with no failure\n%s", v.State, v.Summary, r.as(r.alice, "changes", "show", r.changeID))
	}
	for _, h := range r.hosts {
		if got := debtest.InstalledVersion(t, h.root, "pbtest-hello"); got != "1.1-1" {
			t.Errorf("%s has %s, want 1.1-1", h.name, got)
		}
	}
	resp, err := hostile.CheckinOnce(t.Context())
	if err != nil || len(resp.Jobs) != 0 {
		t.Errorf("the hostile host was handed %d jobs (%v)", len(resp.Jobs), err)
	}
	for _, h := range v.Hosts {
		if h.HostID != hostile.HostID() {
			continue
		}
		t.Logf("pilot-3 in the change: %s: %s", h.Status, h.Detail)
		if h.Status != "excluded" || !strings.Contains(h.Detail, "arch") {
			t.Errorf("pilot-3 in the change: %s %q, want excluded with the reason", h.Status, h.Detail)
		}
	}
}

// forceAllCollector is a Debian 12 host whose only package claims an
// architecture that would smuggle an option into apt's command line.
type forceAllCollector struct{}

func (forceAllCollector) Collect(context.Context) (inventory.Snapshot, error) {
	return inventory.Snapshot{
		Facts: inventory.Facts{Hostname: "pilot-3", OS: inventory.OS{ID: "debian", VersionID: "12"}, Kernel: "6.1.0", Arch: "x86_64",
			PackageFormat: inventory.FormatDpkg},
		Packages: []inventory.Package{{Name: "pbtest-hello", Version: "1.0-1", Arch: "amd64 --force-all"}},
	}, nil
}
