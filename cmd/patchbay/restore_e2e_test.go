package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/sim"
	"github.com/patchbay/patchbay/internal/testenv"
)

// TestRestoreDuringARolloutConvergesWithoutRunningAJobTwice: 60 simulated
// hosts (the real agent code, in memory) roll out a package in batches of
// 5. Mid-rollout `patchbay backup` snapshots the running server; the
// rollout goes on, so agents run jobs the backup does not know of. Then
// the server dies (SIGKILL), the backup is restored into a new directory
// and a server starts from it on the same address. The audit trail
// verifies, the rollout completes, and every host ran its install exactly
// once: jobs the agents ran after the backup are settled with the agents'
// earlier results, not run again.
func TestRestoreDuringARolloutConvergesWithoutRunningAJobTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("long restore test")
	}
	const hosts = 60
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	serverArgs := func(dir string) []string {
		return []string{"server", "--listen", addr, "--data-dir", dir, "--feed-source", "none", "--engine-interval", "100ms", "--checkin-interval", "1s"}
	}
	k := &killableServer{sp: &serverProc{dataDir: dataDir, stderr: &syncBuffer{}}, args: serverArgs(dataDir)}
	k.start(t)
	t.Cleanup(func() {
		k.kill()
		if t.Failed() {
			t.Logf("server stderr (tail):\n%s", tail(k.sp.stderr.String(), 6000))
		}
	})
	sp := k.sp
	sp.mustCLI(t, "users", "create", "bob", "--role", "approver")
	orgFile := filepath.Join(t.TempDir(), "org.yaml")
	os.WriteFile(orgFile, []byte(`teams: [{name: sim, members: [{user: bob, role: approver}]}]
groups:
  - {name: fleet, team: sim, selector: {labels: {fleet: sim}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: production}
rings: [production]
`), 0o644)
	sp.mustCLI(t, "apply", "-f", orgFile)
	token := sp.enrollToken(t, "--label", "fleet=sim", "--max-hosts", "60")

	bases, err := sim.LoadBases(filepath.Join("..", "..", "..", "shared", "data", "inventories", "package-lists"))
	if err != nil || len(bases) == 0 {
		testenv.SkipOrFail(t, "shared/data/inventories is not beside the repository (../shared): %v", err)
	}
	var ubuntu []sim.Base
	for _, b := range bases {
		if strings.Contains(b.Name, "ubuntu") {
			ubuntu = append(ubuntu, b)
		}
	}
	var mu sync.Mutex
	installs := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simDone := make(chan error, 1)
	go func() {
		_, err := sim.Run(ctx, sim.Config{Server: sp.url, EnrollToken: token, CAFile: filepath.Join(dataDir, "ca.crt"),
			Hosts: hosts, Packages: 40, Interval: 400 * time.Millisecond, Duration: 10 * time.Minute, Concurrency: 8,
			Bases: ubuntu, Seed: 11, Jobs: true,
			OnInstall: func(host string, _ []protocol.JobPackage) {
				mu.Lock()
				installs[host]++
				mu.Unlock()
			}})
		simDone <- err
	}()
	waitFor(t, func() bool { return len(sp.hosts(t)) == hosts }, "60 simulated hosts enrolled")

	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	var ch struct{ ID string }
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "create", "bash everywhere", "--group", "fleet", "--package", "bash@9.9-9",
		"--force-not-offered", "--batch", "5", "--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	sp.mustCLI(t, "changes", "submit", ch.ID)
	if _, errOut, err := run(t, "--server", sp.url, "--ca", filepath.Join(dataDir, "ca.crt"), "--token", bob, "changes", "approve", ch.ID); err != nil {
		t.Fatalf("approve: %v %s", err, errOut)
	}
	sp.mustCLI(t, "changes", "start", ch.ID)
	show := func() changeView {
		var v changeView
		json.Unmarshal([]byte(sp.mustCLI(t, "changes", "show", ch.ID, "-o", "json")), &v)
		return v
	}
	succeeded := func() int {
		if v := show(); v.Summary != nil {
			return v.Summary.Succeeded
		}
		return 0
	}
	waitForWithin(t, 2*time.Minute, func() bool { return succeeded() >= 10 }, "10 hosts patched before the backup")

	archive := filepath.Join(t.TempDir(), "pb.tar.gz")
	if out, errOut, err := run(t, "backup", "--data-dir", dataDir, "--out", archive); err != nil {
		t.Fatalf("backup while the server runs: %v\n%s%s", err, out, errOut)
	}
	atBackup := succeeded()
	ranAtBackup := countInstalls(&mu, installs)
	// The rollout goes on: agents run jobs the backup does not hold.
	waitForWithin(t, 2*time.Minute, func() bool { return succeeded() >= atBackup+15 }, "15 more hosts patched after the backup")
	k.kill()
	ranBeforeRestore := countInstalls(&mu, installs)
	if atBackup >= hosts {
		t.Fatalf("the rollout ended before the backup; nothing to test")
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, errOut, err := run(t, "restore", "--from", archive, "--data-dir", restored); err != nil {
		t.Fatalf("restore: %v\n%s%s", err, out, errOut)
	}
	k.sp.dataDir = restored
	k.args = serverArgs(restored)
	k.start(t)
	t.Logf("installs: %d when the backup was taken, %d when the server died", ranAtBackup, ranBeforeRestore)

	if out, errOut, err := sp.cli(t, "audit", "verify"); err != nil {
		t.Errorf("audit verify on the restored server: %v\n%s%s", err, out, errOut)
	}
	var v changeView
	waitForWithin(t, 4*time.Minute, func() bool {
		v = show()
		return v.State == "awaiting-signoff" || v.State == "halted"
	}, "the rollout to end on the restored server")
	cancel()
	<-simDone
	if v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Succeeded != hosts {
		t.Fatalf("after the restore the change is %s: %+v\n%s", v.State, v.Summary, sp.mustCLI(t, "changes", "show", ch.ID))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(installs) != hosts {
		t.Errorf("%d hosts ran the install, want %d", len(installs), hosts)
	}
	for host, n := range installs {
		if n != 1 {
			t.Errorf("%s ran its install %d times", host, n)
		}
	}
	if out, errOut, err := sp.cli(t, "audit", "verify"); err != nil {
		t.Errorf("audit verify after the rollout: %v\n%s%s", err, out, errOut)
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
