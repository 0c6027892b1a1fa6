package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/testenv"
)

func requireRealApt(t *testing.T) {
	t.Helper()
	testenv.NeedTools(t, "apt-get install -y apt dpkg busybox-static; .ci/run does", "apt-get", "dpkg", "dpkg-deb", "busybox")
	testenv.NeedRoot(t, "the rollout test installs into image roots with dpkg --root")
}

// TestRolloutWithRealApt: 6 agents in 3 rings upgrade pbtest-hello from
// 1.0-1 to 1.1-1 with the real apt-get and dpkg inside their own image
// roots. The 1.1-1 postinst fails on one pilot host (it finds
// /etc/pbtest-fail there), so dpkg reports the error; with a failure
// budget of 0 the change halts before production. A rollback then returns
// every host to exactly 1.0-1.
func TestRolloutWithRealApt(t *testing.T) {
	requireRealApt(t)
	sp := startRingServer(t)
	work := t.TempDir()
	good := filepath.Join(work, "repo")
	debtest.BuildDeb(t, work, good, "pbtest-hello", "1.0-1")
	debtest.BuildDebWithPostinst(t, work, good, "pbtest-hello", "1.1-1",
		"#!/bin/sh\nif [ -e /etc/pbtest-fail ]; then echo \"pbtest-hello: postinst failed on purpose\" >&2; exit 1; fi\nexit 0\n")
	debtest.WritePackagesIndex(t, good)

	r := newRingRollout(t, sp, work, func(h ringHost) {
		debianHelloRoot(t, h, good)
		if h.name == "pilot-2" {
			debtest.WriteFile(t, filepath.Join(h.root, "etc/pbtest-fail"), "")
		}
	})
	r.createAndSubmit()
	// The author cannot approve; another approver can.
	if _, errOut, err := r.try(r.alice, "changes", "approve", r.changeID); err == nil {
		t.Fatal("the author approved their own change")
	} else if !strings.Contains(errOut, "may not") && !strings.Contains(errOut, "another approver") {
		t.Fatalf("self-approval refused without a reason: %s", errOut)
	}
	r.approveAndStart()

	v, failedDetail := r.runUntilStopped(4 * time.Minute)
	if !strings.Contains(failedDetail, "postinst failed on purpose") && !strings.Contains(failedDetail, "post-installation script") {
		t.Errorf("the failed host's detail does not show the postinst failure: %q", failedDetail)
	}
	// pilot-2's dpkg left 1.1-1 half-configured: not installed.
	r.checkHaltedAtThePilot(v, debtest.InstalledVersion, map[string]string{"test-1": "1.1-1", "test-2": "1.1-1", "pilot-1": "1.1-1", "pilot-2": "",
		"production-1": "1.0-1", "production-2": "1.0-1"})
	r.checkRolledBack(r.rollBack(3*time.Minute), debtest.InstalledVersion)
	// The running machine was never touched.
	if out, err := exec.Command("dpkg-query", "-W", "pbtest-hello").CombinedOutput(); err == nil {
		t.Errorf("pbtest-hello is installed on the test machine: %s", out)
	}
}

// agentJobsRun runs `patchbay agent --once` for an image root with jobs
// enabled and no local hooks.
func (sp *serverProc) agentJobsRun(t *testing.T, stateDir, root, token string) (string, error) {
	t.Helper()
	args := []string{"agent", "--server", sp.url, "--state-dir", stateDir, "--root", root, "--once",
		"--hooks", filepath.Join(stateDir, "no-hooks.json"), "--reboot-command", "/bin/true"}
	if token != "" {
		args = append(args, "--enroll-token", token)
	}
	_, errOut, err := run(t, args...)
	return errOut, err
}

// TestRebootJobSurvivesTheAgentBeingKilled: the group reboots always; the
// injected reboot command kills the agent process itself, as a real
// reboot would. The agent started again in its place reports the reboot,
// once, and the change completes.
func TestRebootJobSurvivesTheAgentBeingKilled(t *testing.T) {
	requireRealApt(t)
	sp := startServerProc(t, "server", "--feed-source", "none", "--engine-interval", "200ms")
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	for _, v := range []string{"1.0-1", "1.1-1"} {
		debtest.BuildDeb(t, work, repo, "pbtest-hello", v)
	}
	debtest.WritePackagesIndex(t, repo)
	sp.mustCLI(t, "users", "create", "bob", "--role", "approver")
	sp.mustCLI(t, "users", "create", "sam", "--role", "stakeholder")
	orgFile := filepath.Join(work, "org.yaml")
	os.WriteFile(orgFile, []byte(`teams: [{name: ops, members: [{user: bob, role: approver}, {user: sam, role: stakeholder}]}]
groups:
  - {name: db, team: ops, selector: {hosts: [db-1]}, stakeholder: sam, sysadmin: bob, criticality: 4, exposure: internal, ring: production, reboot: always}
rings: [production]
`), 0o644)
	sp.mustCLI(t, "apply", "-f", orgFile)
	root, state := filepath.Join(work, "root"), t.TempDir()
	debtest.MakeImageRoot(t, root, repo, "pbtest-hello", "1.0-1")
	debtest.AddStaticShell(t, root)
	debtest.WriteFile(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n")
	debtest.WriteFile(t, filepath.Join(root, "etc/hostname"), "db-1\n")
	agentRun := func(token string) (string, error) {
		args := []string{"agent", "--server", sp.url, "--state-dir", state, "--root", root, "--once",
			"--hooks", filepath.Join(state, "none.json"), "--reboot-command", "/bin/sh,-c,kill -9 $PPID"}
		if token != "" {
			args = append(args, "--enroll-token", token)
		}
		_, errOut, err := run(t, args...)
		return errOut, err
	}
	if out, err := agentRun(sp.enrollToken(t)); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	// An advisory says pbtest-hello is fixed in 1.1-1 on Debian 12: the
	// change is drafted from the advisory's finding.
	adv := filepath.Join(work, "PBTEST-2026-0001.json")
	os.WriteFile(adv, []byte(`{"id":"PBTEST-2026-0001","modified":"2026-11-01T00:00:00Z","published":"2026-11-01T00:00:00Z",
"summary":"pbtest-hello: test vulnerability","affected":[{"package":{"ecosystem":"Debian:12","name":"pbtest-hello"},
"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1-1"}]}]}]}`), 0o644)
	sp.mustCLI(t, "feeds", "import", adv)
	var ch struct{ ID string }
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "create", "hello with reboot", "--group", "db", "--advisory", "PBTEST-2026-0001",
		"--ignore-windows", "-o", "json")), &ch)
	if ch.ID == "" {
		t.Fatal("no change drafted from the advisory")
	}
	sp.mustCLI(t, "changes", "submit", ch.ID)
	if _, errOut, err := run(t, "--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", bob, "changes", "approve", ch.ID); err != nil {
		t.Fatalf("approve: %v %s", err, errOut)
	}
	sp.mustCLI(t, "changes", "start", ch.ID)
	killed := false
	var v changeView
	for range 40 {
		_, err := agentRun("")
		if err != nil && strings.Contains(err.Error(), "killed") {
			killed = true
		}
		json.Unmarshal([]byte(sp.mustCLI(t, "changes", "show", ch.ID, "-o", "json")), &v)
		if v.State == "awaiting-signoff" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !killed || v.State != "awaiting-signoff" {
		t.Fatalf("killed by the reboot: %v; change %s %+v", killed, v.State, v.Summary)
	}
	// Every job result the server accepts is in the audit trail, once.
	trail := sp.mustCLI(t, "audit", "export", "--format", "jsonl")
	if n := strings.Count(trail, `"action":"job.result reboot"`); n != 1 {
		t.Errorf("reboot results recorded %d times, want once:\n%s", n, trail)
	}
	if got := debtest.InstalledVersion(t, root, "pbtest-hello"); got != "1.1-1" {
		t.Errorf("installed %s", got)
	}
	// The finding resolves from the fresh inventory, with the change as cause.
	waitFor(t, func() bool {
		return strings.Contains(sp.mustCLI(t, "vulns", "list", "--host", "db-1", "--status", "all", "-o", "json"), "by change "+ch.ID)
	}, "the finding resolves by the change")

	// The stakeholder reports a problem: a knowledge-base draft opens, and
	// the next change touching pbtest-hello shows it in its plan.
	asBob := func(args ...string) (string, string, error) {
		return run(t, append([]string{"--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", bob}, args...)...)
	}
	// A token's role is bounded by its user's: the group's stakeholder is a
	// user with that role.
	samStake := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "sam-stakeholder", "--user", "sam", "--role", "stakeholder"))
	if _, errOut, err := run(t, "--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", samStake,
		"changes", "signoff", ch.ID, "--group", "db", "--problem", "replication lag doubled after the upgrade"); err != nil {
		t.Fatalf("sign-off: %v\n%s", err, errOut)
	}
	_ = asBob
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "show", ch.ID, "-o", "json")), &v)
	// A problem sign-off ends the change completed-with-problems (docs: the
	// change lifecycle).
	if v.State != "completed-with-problems" {
		t.Errorf("after the only group signed off with a problem the change is %s, want completed-with-problems", v.State)
	}
	var kb []struct {
		ID, Title, Status string
		Changes           []string
	}
	json.Unmarshal([]byte(sp.mustCLI(t, "kb", "list", "-o", "json")), &kb)
	if len(kb) != 1 || kb[0].Status != "draft" || len(kb[0].Changes) != 1 || kb[0].Changes[0] != ch.ID {
		t.Fatalf("knowledge base after the problem report: %+v", kb)
	}
	var next struct {
		ID            string
		KnownProblems []struct{ ID string } `json:"known_problems"`
	}
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "create", "hello back", "--group", "db", "--package", "pbtest-hello@1.0-1",
		"--allow-downgrade", "--ignore-windows", "-o", "json")), &next)
	if len(next.KnownProblems) != 1 || next.KnownProblems[0].ID != kb[0].ID {
		t.Fatalf("the later change's plan does not show the known problem: %+v", next)
	}
	var retro struct {
		Hosts, Succeeded, Problems int
		Duration                   string
		SuccessRate                *float64 `json:"success_rate"`
	}
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "retrospective", ch.ID, "-o", "json")), &retro)
	if retro.Hosts != 1 || retro.Succeeded != 1 || retro.Problems != 1 || retro.SuccessRate == nil || *retro.SuccessRate != 1 || retro.Duration == "" {
		t.Errorf("retrospective: %+v", retro)
	}
	evidence := sp.mustCLI(t, "changes", "evidence", ch.ID)
	for _, want := range []string{`"signoffs"`, "replication lag", `"approved_by": "bob"`, "job.result install"} {
		if !strings.Contains(evidence, want) {
			t.Errorf("evidence pack lacks %q", want)
		}
	}
}
