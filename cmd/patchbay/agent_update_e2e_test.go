package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/release"
)

// agentProc is a real patchbay-agent process of one simulated host, running
// from its own copy of the binary (which self-updates replace).
type agentProc struct {
	name, bin, root, state string
	out                    *syncBuffer
}

// TestAgentUpdateThroughRings rolls agent releases out as changes to real
// patchbay-agent processes: a good release goes ring by ring and every
// host ends on it after checking in with it; a release signed by another
// key, a binary tampered with on the server and a binary that never checks
// in are each refused or reverted on the first host, and the failure
// budget of 0 halts the change so no other host gets the job; a downgrade
// is refused by the plan.
func TestAgentUpdateThroughRings(t *testing.T) {
	work := t.TempDir()
	keys, other := filepath.Join(work, "keys"), filepath.Join(work, "other")
	for _, dir := range []string{keys, other} {
		if _, stderr, err := run(t, "release-key", "create", "--out", dir); err != nil {
			t.Fatalf("release-key create: %v\n%s", err, stderr)
		}
	}
	v1 := buildAgentVersion(t, work, "v1.0.0")
	v2 := buildAgentVersion(t, work, "v1.1.0")
	stuck := filepath.Join(work, "stuckagent")
	build := exec.Command("go", "build", "-o", stuck, "./testdata/stuckagent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build stuckagent: %v\n%s", err, out)
	}
	sign := func(key, bin, version string) string {
		t.Helper()
		out := filepath.Join(work, version+"-"+filepath.Base(filepath.Dir(key))+".release")
		if _, stderr, err := run(t, "release", "sign", "--key", key, "--binary", bin, "--version", version, "--out", out); err != nil {
			t.Fatalf("release sign: %v\n%s", err, stderr)
		}
		return out
	}
	goodKey, otherKey := filepath.Join(keys, "release.key"), filepath.Join(other, "release.key")

	sp := startServerProc(t, "server", "--feed-source", "none", "--engine-interval", "100ms", "--checkin-interval", "1s")
	for _, u := range []string{"alice:operator", "bob:approver", "sam:stakeholder"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	orgFile := filepath.Join(work, "org.yaml")
	if err := os.WriteFile(orgFile, []byte(`teams:
  - name: ops
    members: [{user: alice, role: operator}, {user: bob, role: approver}, {user: sam, role: stakeholder}]
groups:
  - {name: agents-test, team: ops, selector: {labels: {ring: test}}, stakeholder: sam, sysadmin: alice, criticality: 2, exposure: internal, ring: test}
  - {name: agents-prod, team: ops, selector: {labels: {ring: production}}, stakeholder: sam, sysadmin: alice, criticality: 5, exposure: internal, ring: production}
rings: [test, production]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	sp.mustCLI(t, "apply", "-f", orgFile)
	alice := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "alice", "--user", "alice", "--role", "operator"))
	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	as := func(tok string, args ...string) (string, string, error) {
		return run(t, append([]string{"--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", tok}, args...)...)
	}
	must := func(tok string, args ...string) string {
		t.Helper()
		out, errOut, err := as(tok, args...)
		if err != nil {
			t.Fatalf("patchbay %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}

	// Three hosts on v1.0.0: test-1 in ring test, production-1 and -2.
	if err := os.WriteFile(filepath.Join(work, "none.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(keys, "release.pub")
	var agents []*agentProc
	for _, h := range []struct{ name, ring string }{{"test-1", "test"}, {"production-1", "production"}, {"production-2", "production"}} {
		dir := t.TempDir()
		a := &agentProc{name: h.name, bin: filepath.Join(dir, "patchbay-agent"), root: ubuntuRoot(t, h.name), state: t.TempDir(), out: &syncBuffer{}}
		if err := os.WriteFile(a.bin, mustRead(t, v1), 0o755); err != nil {
			t.Fatal(err)
		}
		token := sp.enrollToken(t, "--label", "ring="+h.ring, "--max-hosts", "1")
		ctx, cancel := context.WithCancel(context.Background())
		args := []string{"--config", filepath.Join(work, "none.yaml"), "--server", sp.url, "--enroll-token", token,
			"--state-dir", a.state, "--root", a.root, "--interval", "1s", "--release-key", pub, "--hooks", filepath.Join(dir, "no-hooks.json")}
		if h.name == "test-1" {
			// The agent's own labels go with its enrollment; the token's win.
			args = append(args, "--label", "ring=production", "--label", "rack=r1")
		}
		cmd := exec.CommandContext(ctx, a.bin, args...)
		cmd.Env = append(os.Environ(), "PATCHBAY_SERVER=", "PATCHBAY_ENROLL_TOKEN=", "PATCHBAY_CA=")
		cmd.Stdout, cmd.Stderr = a.out, a.out
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cancel()
			cmd.Wait()
			if t.Failed() {
				t.Logf("agent %s:\n%s", a.name, a.out.String())
			}
		})
		agents = append(agents, a)
	}
	agentVersions := func() map[string]string {
		out := map[string]string{}
		for _, h := range sp.hosts(t) {
			out[h.Hostname] = h.AgentVersion
		}
		return out
	}
	pollUntil(t, 60*time.Second, func() bool {
		v := agentVersions()
		return len(v) == 3 && v["test-1"] == "v1.0.0" && v["production-1"] == "v1.0.0" && v["production-2"] == "v1.0.0"
	}, "three agents enrolled reporting v1.0.0")
	for _, h := range sp.hosts(t) {
		if h.Hostname == "test-1" && (len(h.UserLabels) != 2 || h.UserLabels["ring"] != "test" || h.UserLabels["rack"] != "r1") {
			t.Errorf("test-1's labels %v, want ring=test (the token's, over the agent's ring=production) and rack=r1 (the agent's)", h.UserLabels)
		}
	}

	upload := func(bin, note string) {
		t.Helper()
		if out, errOut, err := as(sp.token(t), "release", "upload", "--binary", bin, "--release", note); err != nil || !strings.Contains(out, "uploaded patchbay-agent") {
			t.Fatalf("release upload %s: %v\n%s%s", note, err, out, errOut)
		}
	}
	hostStatus := func(v changeView) map[string]string {
		out := map[string]string{}
		for _, h := range v.Hosts {
			out[h.Hostname] = h.Status + ": " + h.Detail
		}
		return out
	}
	// rollOut drafts, approves and starts an agent update over both groups
	// with batch 1 and a failure budget of 0, and waits until it halts or
	// awaits sign-off with no job out.
	rollOut := func(version string) changeView {
		t.Helper()
		var ch changeView
		json.Unmarshal([]byte(must(alice, "changes", "create", "agents "+version, "--agent-release", version, "--group", "agents-test",
			"--group", "agents-prod", "--batch", "1", "--failure-budget", "0", "--job-timeout", "40s", "--ignore-windows", "-o", "json")), &ch)
		if ch.ID == "" || len(ch.Plan.Hosts) != 3 {
			t.Fatalf("change for %s: %+v; want 3 hosts planned", version, ch)
		}
		for _, hp := range ch.Plan.Hosts {
			if len(hp.Targets) != 1 || hp.Targets[0].Name != "patchbay-agent" || hp.Targets[0].Version != version || hp.NeedsReboot {
				t.Fatalf("planned host %s: %+v; want patchbay-agent %s and no reboot", hp.HostID, hp, version)
			}
		}
		must(alice, "changes", "submit", ch.ID)
		must(bob, "changes", "approve", ch.ID)
		must(alice, "changes", "start", ch.ID)
		var v changeView
		pollUntil(t, 150*time.Second, func() bool {
			v = changeView{}
			json.Unmarshal([]byte(must(alice, "changes", "show", ch.ID, "-o", "json")), &v)
			return (v.State == "halted" || v.State == "awaiting-signoff" || v.State == "completed") && v.Summary != nil && v.Summary.InFlight == 0
		}, "change "+version+" to halt or finish")
		t.Logf("change %s: %s, hosts %v", version, v.State, hostStatus(v))
		return v
	}
	// refusedOnFirstHost checks that test-1 failed saying want, the change
	// halted, and the production hosts never got the job.
	refusedOnFirstHost := func(v changeView, want string) {
		t.Helper()
		st := hostStatus(v)
		if v.State != "halted" || !strings.HasPrefix(st["test-1"], "failed") || !strings.Contains(st["test-1"], want) {
			t.Fatalf("change %s: state %s, hosts %v; want halted with test-1 failed saying %q", v.Title, v.State, st, want)
		}
		for _, h := range v.Hosts {
			if h.Hostname != "test-1" && (h.Dispatched || h.Status != "pending") {
				t.Errorf("change %s: %s is %s (dispatched %v); the failure budget should have stopped the rollout before it", v.Title, h.Hostname, h.Status, h.Dispatched)
			}
		}
	}
	binaryIs := func(bin string) {
		t.Helper()
		for _, a := range agents {
			if !bytes.Equal(mustRead(t, a.bin), mustRead(t, bin)) {
				t.Errorf("%s's binary is not %s", a.name, filepath.Base(bin))
			}
			if p, err := release.ReadPending(a.bin); err != nil || p != nil {
				t.Errorf("%s: trial marker %+v, %v; want none", a.name, p, err)
			}
		}
	}

	// A good release, ring by ring: every host checks in with v1.1.0.
	upload(v2, sign(goodKey, v2, "v1.1.0"))
	v := rollOut("v1.1.0")
	if st := hostStatus(v); (v.State != "awaiting-signoff" && v.State != "completed") || len(st) != 3 || !strings.HasPrefix(st["test-1"], "succeeded") ||
		!strings.HasPrefix(st["production-1"], "succeeded") || !strings.HasPrefix(st["production-2"], "succeeded") {
		t.Fatalf("v1.1.0 rollout: state %s, hosts %v; want it finished with all three succeeded", v.State, st)
	}
	var testDone time.Time
	for _, h := range v.Hosts {
		if h.Hostname == "test-1" && h.FinishedAt != nil {
			testDone = *h.FinishedAt
		}
	}
	for _, h := range v.Hosts {
		if h.Hostname != "test-1" && (h.DispatchedAt == nil || testDone.IsZero() || h.DispatchedAt.Before(testDone)) {
			t.Errorf("%s got its job at %v, test-1 finished at %v: the production ring went before the test ring was done", h.Hostname, h.DispatchedAt, testDone)
		}
	}
	binaryIs(v2)
	if got := agentVersions(); got["test-1"] != "v1.1.0" || got["production-1"] != "v1.1.0" || got["production-2"] != "v1.1.0" {
		t.Fatalf("agent versions after the rollout: %v; want v1.1.0 everywhere", got)
	}

	if out := sp.mustCLI(t, "audit", "list", "--action", "POST /api/v1/releases"); !strings.Contains(out, "agent release v1.1.0 for linux/") {
		t.Errorf("audit of the upload:\n%s\nwant it to name release v1.1.0", out)
	}

	// A release signed by another key: the server stores it (it cannot
	// tell, holding no release key), the agent refuses it.
	upload(v2, sign(otherKey, v2, "v1.2.0"))
	refusedOnFirstHost(rollOut("v1.2.0"), "not signed by the pinned release key")
	binaryIs(v2)

	// A binary tampered with on the server after its upload (the upload
	// itself refuses a binary that does not match its note).
	note := sign(goodKey, v2, "v1.2.1")
	tampered := filepath.Join(work, "tampered")
	b := mustRead(t, v2)
	b[len(b)/2] ^= 0xff
	os.WriteFile(tampered, b, 0o755)
	if _, errOut, err := as(sp.token(t), "release", "upload", "--binary", tampered, "--release", note); err == nil || !strings.Contains(errOut, "do not match the note") {
		t.Fatalf("upload of a binary that does not match its note: %v\n%s; want it refused", err, errOut)
	}
	upload(v2, note)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(sp.dataDir, "patchbay.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := db.Exec(`UPDATE agent_releases SET binary_data = ? WHERE version = 'v1.2.1'`, b); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampered with %d stored releases, want 1", n)
	}
	db.Close()
	refusedOnFirstHost(rollOut("v1.2.1"), "does not match the signed size and SHA-256")
	binaryIs(v2)

	// A downgrade: the plan refuses it (the agent would too).
	upload(v1, sign(goodKey, v1, "v1.0.1"))
	if _, errOut, err := as(alice, "changes", "create", "agents v1.0.1", "--agent-release", "v1.0.1", "--group", "agents-test",
		"--group", "agents-prod", "--ignore-windows"); err == nil || !strings.Contains(errOut, "does not allow a downgrade") {
		t.Fatalf("a change to an older release: %v\n%s; want it refused as a downgrade", err, errOut)
	}

	// A binary that never checks in: installed, it hangs; at its deadline
	// the previous binary is back, runs and reports the failure.
	upload(stuck, sign(goodKey, stuck, "v1.3.0"))
	refusedOnFirstHost(rollOut("v1.3.0"), "did not check in by its deadline")
	binaryIs(v2)
	if got := agentVersions(); got["test-1"] != "v1.1.0" {
		t.Errorf("test-1 reports agent %q after the revert, want v1.1.0", got["test-1"])
	}
}

// pollUntil checks cond every 500 ms (each check runs the CLI) until it
// holds, and stops the test when within passes first.
func pollUntil(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}
