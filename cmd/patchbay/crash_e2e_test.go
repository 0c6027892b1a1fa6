package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/sim"
	"github.com/patchbay/patchbay/internal/testenv"
)

// killableServer is a server process that the test kills with SIGKILL and
// starts again: with args when set, else `patchbay server --feed-source
// none` and extra on addr, from sp.dataDir.
type killableServer struct {
	sp    *serverProc
	cmd   *exec.Cmd
	args  []string
	addr  string
	extra []string
}

// startKillable starts `patchbay server --feed-source none` with the extra
// flags on a free loopback address and a fresh data directory. The server
// is killed when the test ends; if the test failed, the tail of its stderr
// is logged.
func startKillable(t *testing.T, extra ...string) *killableServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	k := &killableServer{sp: &serverProc{dataDir: t.TempDir(), stderr: &syncBuffer{}}, addr: addr, extra: extra}
	k.start(t)
	t.Cleanup(func() {
		k.kill()
		if t.Failed() {
			t.Logf("server stderr (tail):\n%s", tail(k.sp.stderr.String(), 6000))
		}
	})
	return k
}

func (k *killableServer) start(t *testing.T) {
	t.Helper()
	args := k.args
	if args == nil {
		args = append([]string{"server", "--listen", k.addr, "--data-dir", k.sp.dataDir, "--feed-source", "none"}, k.extra...)
	}
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = k.sp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.sp.url = waitBanner(t, "server", stdout, k.sp.stderr)
	k.cmd = cmd
}

func (k *killableServer) kill() {
	k.cmd.Process.Signal(syscall.SIGKILL)
	k.cmd.Wait()
}

// TestRolloutSurvivesServerCrashes: 200 simulated hosts (the real agent
// code, in memory) roll out a package while the server is killed with
// SIGKILL at random moments 20 times. After every restart the rollout
// goes on; in the end every host ran its install exactly once and every
// result the agents had confirmed is in the change.
func TestRolloutSurvivesServerCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	k := startKillable(t, "--engine-interval", "100ms", "--checkin-interval", "1s")
	sp, dataDir := k.sp, k.sp.dataDir
	applySimOrg(t, sp, `  - {name: fleet, team: sim, selector: {labels: {fleet: sim}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: production}
`)
	token := sp.enrollToken(t, "--label", "fleet=sim", "--max-hosts", "200")

	ubuntu := ubuntuBases(t)
	var mu sync.Mutex
	installs := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simDone := make(chan error, 1)
	go func() {
		_, err := sim.Run(ctx, sim.Config{Server: sp.url, EnrollToken: token, CAFile: filepath.Join(dataDir, "ca.crt"),
			Hosts: 200, Packages: 40, Interval: 400 * time.Millisecond, Duration: 10 * time.Minute, Concurrency: 8,
			Bases: ubuntu, Seed: 7, Jobs: true,
			OnInstall: func(host string, _ []protocol.JobPackage) {
				mu.Lock()
				installs[host]++
				mu.Unlock()
			}})
		simDone <- err
	}()
	waitFor(t, func() bool { return len(sp.hosts(t)) == 200 }, "200 simulated hosts enrolled")

	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	ch := struct{ ID string }{startSimChange(t, sp, bob, "bash everywhere", "fleet", "bash@9.9-9", "20")}

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		time.Sleep(time.Duration(150+rng.IntN(700)) * time.Millisecond)
		k.kill()
		k.start(t)
		_ = i
	}
	var v changeView
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		json.Unmarshal([]byte(sp.mustCLI(t, "changes", "show", ch.ID, "-o", "json")), &v)
		if v.State == "awaiting-signoff" || v.State == "halted" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	cancel()
	<-simDone
	if v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Succeeded != 200 {
		t.Fatalf("after 20 crashes the change is %s: %+v", v.State, v.Summary)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(installs) != 200 {
		t.Errorf("%d hosts ran the install, want 200", len(installs))
	}
	for host, n := range installs {
		if n != 1 {
			t.Errorf("%s ran its install %d times", host, n)
		}
	}
}

// applySimOrg creates the approver bob and applies an organisation of one
// team, sim (bob), the groups given as YAML list items, and one ring,
// production.
func applySimOrg(t *testing.T, sp *serverProc, groups string) {
	t.Helper()
	sp.mustCLI(t, "users", "create", "bob", "--role", "approver")
	orgFile := filepath.Join(t.TempDir(), "org.yaml")
	if err := os.WriteFile(orgFile, []byte("teams: [{name: sim, members: [{user: bob, role: approver}]}]\ngroups:\n"+groups+"rings: [production]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp.mustCLI(t, "apply", "-f", orgFile)
}

// startSimChange creates a change installing pkg on group in batches,
// submits it, has bob (his API token) approve it and starts it.
func startSimChange(t *testing.T, sp *serverProc, bob, title, group, pkg, batch string) string {
	t.Helper()
	var ch struct{ ID string }
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "create", title, "--group", group, "--package", pkg,
		"--force-not-offered", "--batch", batch, "--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	sp.mustCLI(t, "changes", "submit", ch.ID)
	if _, errOut, err := run(t, "--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", bob, "changes", "approve", ch.ID); err != nil {
		t.Fatalf("approve: %v %s", err, errOut)
	}
	sp.mustCLI(t, "changes", "start", ch.ID)
	return ch.ID
}

// ubuntuBases are the Ubuntu package lists of the shared data
// (../shared/data/inventories), the bases of simulated hosts.
func ubuntuBases(t *testing.T) []sim.Base {
	t.Helper()
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
	return ubuntu
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return fmt.Sprint(s)
}
