package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/sim"
)

// TestRestoreDuringARolloutConvergesWithoutRunningAJobTwice: 60 simulated
// hosts (the real agent code, in memory) in two fleets. Fleet a (50 hosts)
// rolls out a package in batches of 5. Mid-rollout `patchbay backup`
// snapshots the running server; then the rollout goes on and a second
// change patches fleet b, so agents run jobs and accept job sequences the
// backup does not know of. The server dies (SIGKILL), the backup is
// restored into a new directory and a server starts from it on the same
// address. The audit trail verifies; the first rollout completes, jobs the
// agents ran after the backup settled with their earlier results; a new
// change for fleet b, whose first jobs get sequences the agents passed
// already, is signed again above them and completes. No host ran any
// install twice.
func TestRestoreDuringARolloutConvergesWithoutRunningAJobTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("long restore test")
	}
	const fleetA, fleetB = 50, 10
	k := startKillable(t, "--engine-interval", "100ms", "--checkin-interval", "1s")
	sp, dataDir := k.sp, k.sp.dataDir
	applySimOrg(t, sp, `  - {name: fleet-a, team: sim, selector: {labels: {fleet: a}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: production}
  - {name: fleet-b, team: sim, selector: {labels: {fleet: b}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: production}
`)
	tokenA := sp.enrollToken(t, "--label", "fleet=a", "--max-hosts", "50")
	tokenB := sp.enrollToken(t, "--label", "fleet=b", "--max-hosts", "10")

	ubuntu := ubuntuBases(t)
	var mu sync.Mutex
	installs := map[string]int{} // host@version → times installed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simDone := make(chan error, 1)
	go func() {
		_, err := sim.Run(ctx, sim.Config{Server: sp.url, CAFile: filepath.Join(dataDir, "ca.crt"),
			Fleets:   []sim.Fleet{{Hosts: fleetA, EnrollToken: tokenA}, {Hosts: fleetB, EnrollToken: tokenB}},
			Packages: 40, Interval: 400 * time.Millisecond, Duration: 10 * time.Minute, Concurrency: 8,
			Bases: ubuntu, Seed: 11, Jobs: true,
			OnInstall: func(host string, pkgs []protocol.JobPackage) {
				mu.Lock()
				installs[host+"@"+pkgs[0].Version]++
				mu.Unlock()
			}})
		simDone <- err
	}()
	waitFor(t, func() bool { return len(sp.hosts(t)) == fleetA+fleetB }, "60 simulated hosts enrolled")

	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	startChange := func(group, pkg, batch string) string {
		t.Helper()
		return startSimChange(t, sp, bob, "bash on "+group, group, pkg, batch)
	}
	show := func(id string) changeView {
		var v changeView
		json.Unmarshal([]byte(sp.mustCLI(t, "changes", "show", id, "-o", "json")), &v)
		return v
	}
	succeeded := func(id string) int {
		if v := show(id); v.Summary != nil {
			return v.Summary.Succeeded
		}
		return 0
	}
	ended := func(id string) changeView {
		t.Helper()
		var v changeView
		waitForWithin(t, 4*time.Minute, func() bool {
			v = show(id)
			return v.State == "awaiting-signoff" || v.State == "halted"
		}, "change "+id+" to end")
		return v
	}

	first := startChange("fleet-a", "bash@9.9-9", "5")
	waitForWithin(t, 2*time.Minute, func() bool { return succeeded(first) >= 10 }, "10 hosts patched before the backup")
	archive := filepath.Join(t.TempDir(), "pb.tar.gz")
	if out, errOut, err := run(t, "backup", "--data-dir", dataDir, "--out", archive); err != nil {
		t.Fatalf("backup while the server runs: %v\n%s%s", err, out, errOut)
	}
	atBackup := succeeded(first)
	// After the backup: the rollout goes on, and fleet b is patched by a
	// change the backup does not hold.
	lost := startChange("fleet-b", "bash@9.9-9", "10")
	if v := ended(lost); v.State != "awaiting-signoff" || v.Summary.Succeeded != fleetB {
		t.Fatalf("the change after the backup: %s %+v", v.State, v.Summary)
	}
	waitForWithin(t, 2*time.Minute, func() bool { return succeeded(first) >= atBackup+10 }, "10 more hosts patched after the backup")
	k.kill()
	if atBackup >= fleetA {
		t.Fatalf("the rollout ended before the backup; nothing to test")
	}
	t.Logf("fleet a: %d hosts patched at the backup, %d when the server died", atBackup, countInstalls(&mu, installs)-fleetB)

	restored := filepath.Join(t.TempDir(), "restored")
	if out, errOut, err := run(t, "restore", "--from", archive, "--data-dir", restored); err != nil {
		t.Fatalf("restore: %v\n%s%s", err, out, errOut)
	}
	k.sp.dataDir = restored
	k.start(t)
	if out, errOut, err := sp.cli(t, "audit", "verify"); err != nil {
		t.Errorf("audit verify on the restored server: %v\n%s%s", err, out, errOut)
	}
	if v := ended(first); v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Succeeded != fleetA {
		t.Fatalf("after the restore the first change is %s: %+v\n%s", v.State, v.Summary, sp.mustCLI(t, "changes", "show", first))
	}
	// The restored server hands fleet b sequences its agents passed.
	next := startChange("fleet-b", "bash@9.9-10", "10")
	if v := ended(next); v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Succeeded != fleetB {
		t.Fatalf("the change after the restore is %s: %+v\n%s", v.State, v.Summary, sp.mustCLI(t, "changes", "show", next))
	}
	cancel()
	<-simDone

	mu.Lock()
	defer mu.Unlock()
	if len(installs) != fleetA+2*fleetB {
		t.Errorf("%d host@version installs, want %d (fleet a once, fleet b twice)", len(installs), fleetA+2*fleetB)
	}
	for hv, n := range installs {
		if n != 1 {
			t.Errorf("%s installed %d times", hv, n)
		}
	}
	if out, errOut, err := sp.cli(t, "audit", "verify"); err != nil {
		t.Errorf("audit verify after the rollouts: %v\n%s%s", err, out, errOut)
	}
	var entries []struct{ Action, Outcome string }
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "audit", "list", "--limit", "10000", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	reissued := 0
	for _, e := range entries {
		if e.Action == "job.reissue" && e.Outcome == "ok" {
			reissued++
		}
	}
	if reissued != fleetB {
		t.Errorf("%d jobs signed again above their agents' sequences (job.reissue, ok), want %d: one per fleet b host", reissued, fleetB)
	}
}

func countInstalls(mu *sync.Mutex, installs map[string]int) int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for _, c := range installs {
		n += c
	}
	return n
}
