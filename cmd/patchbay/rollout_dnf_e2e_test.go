package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/rpmtest"
)

// TestRolloutWithRealDnf is TestRolloutWithRealApt for rpm: 6 agents in 3
// rings upgrade pbtest-hello from 1.0-1 to 1.1-1 with the real dnf and rpm
// inside their own image roots, each root's only repository a local one
// built with the real rpmbuild and createrepo_c. The 1.1-1 %post fails on
// one pilot host (it finds /etc/pbtest-fail there); dnf exits 0 but the
// agent reports the failure, and with a failure budget of 0 the change
// halts before production. Unlike dpkg, rpm keeps the failed package
// recorded at 1.1-1. A rollback (dnf installing the exact older version)
// then returns every host to exactly 1.0-1.
func TestRolloutWithRealDnf(t *testing.T) {
	rpmtest.Require(t)
	sp := startServerProc(t, "server", "--feed-source", "none", "--engine-interval", "200ms", "--checkin-interval", "5s")
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	rpmtest.BuildBase(t, work, repo)
	rpmtest.BuildRPM(t, work, repo, "pbtest-hello", "1.0-1", "")
	rpmtest.BuildRPM(t, work, repo, "pbtest-hello", "1.1-1",
		`if [ -e /etc/pbtest-fail ]; then echo "pbtest-hello: post failed on purpose" >&2; exit 1; fi`)
	rpmtest.CreateRepo(t, repo)

	for _, u := range []string{"alice:operator", "bob:approver"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	orgFile := filepath.Join(work, "org.yaml")
	os.WriteFile(orgFile, []byte(`teams:
  - name: web
    members: [{user: alice, role: operator}, {user: bob, role: approver}]
groups:
  - {name: web-test, team: web, selector: {labels: {ring: test}}, stakeholder: bob, sysadmin: alice, criticality: 2, exposure: internal, ring: test}
  - {name: web-pilot, team: web, selector: {labels: {ring: pilot}}, stakeholder: bob, sysadmin: alice, criticality: 3, exposure: internal, ring: pilot}
  - {name: web-prod, team: web, selector: {labels: {ring: production}}, stakeholder: bob, sysadmin: alice, criticality: 5, exposure: internet, ring: production}
rings: [test, pilot, production]
`), 0o644)
	sp.mustCLI(t, "apply", "-f", orgFile)

	type host struct{ name, root, state string }
	var hosts []host
	for _, ring := range []string{"test", "pilot", "production"} {
		token := sp.enrollToken(t, "--label", "ring="+ring, "--max-hosts", "2")
		for i := 1; i <= 2; i++ {
			h := host{name: ring + "-" + string(rune('0'+i)), root: filepath.Join(work, ring+string(rune('0'+i))), state: t.TempDir()}
			rpmtest.MakeImageRoot(t, h.root, repo, "pbtest-base-1-1.noarch.rpm", "pbtest-hello-1.0-1.noarch.rpm")
			if h.name == "pilot-2" {
				rpmtest.WriteFile(t, filepath.Join(h.root, "etc/pbtest-fail"), "")
			}
			rpmtest.WriteFile(t, filepath.Join(h.root, "etc/os-release"),
				"ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4\"\n")
			rpmtest.WriteFile(t, filepath.Join(h.root, "etc/hostname"), h.name+"\n")
			if out, err := sp.agentJobsRun(t, h.state, h.root, token); err != nil {
				t.Fatalf("enroll %s: %v\n%s", h.name, err, out)
			}
			hosts = append(hosts, h)
		}
	}
	// The inventory was read from each image's own rpm database.
	if out := sp.mustCLI(t, "hosts", "show", "test-1", "-o", "json"); !strings.Contains(out, "pbtest-hello") {
		t.Fatalf("test-1's inventory lacks pbtest-hello:\n%s", out)
	}

	alice := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "alice", "--user", "alice", "--role", "operator"))
	bob := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	as := func(tok string, args ...string) string {
		t.Helper()
		out, errOut, err := run(t, append([]string{"--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", tok}, args...)...)
		if err != nil {
			t.Fatalf("patchbay %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	var ch struct {
		ID    string
		State string
		Plan  struct{ Hosts []struct{ HostID string } }
	}
	json.Unmarshal([]byte(as(alice, "changes", "create", "pbtest-hello 1.1", "--group", "web-test", "--group", "web-pilot",
		"--group", "web-prod", "--package", "pbtest-hello@1.1-1", "--batch", "2", "--failure-budget", "0",
		"--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	if ch.ID == "" || ch.State != "draft" || len(ch.Plan.Hosts) != 6 {
		t.Fatalf("change: %+v", ch)
	}
	as(alice, "changes", "submit", ch.ID)
	as(bob, "changes", "approve", ch.ID)
	as(alice, "changes", "start", ch.ID)

	state := func() changeView {
		var v changeView
		json.Unmarshal([]byte(as(alice, "changes", "show", ch.ID, "-o", "json")), &v)
		return v
	}
	// Agents check in (and run their jobs) until the change halts.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		for _, h := range hosts {
			if out, err := sp.agentJobsRun(t, h.state, h.root, ""); err != nil {
				t.Fatalf("agent %s: %v\n%s", h.name, err, out)
			}
		}
		if v := state(); (v.State == "halted" || v.State == "awaiting-signoff") && v.Summary != nil && v.Summary.InFlight == 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	v := state()
	failedDetail := ""
	for _, h := range v.Hosts {
		if h.Status == "failed" {
			failedDetail = h.Detail
		}
	}
	if !strings.Contains(failedDetail, "%post(pbtest-hello-1.1-1.noarch) scriptlet failed") ||
		!strings.Contains(failedDetail, "post failed on purpose") {
		t.Errorf("the failed host's detail does not show the %%post failure: %q", failedDetail)
	}
	if v.State != "halted" || v.Summary == nil || v.Summary.Failed != 1 {
		t.Fatalf("after the pilot failure: %+v\n%s", v.Summary, as(alice, "changes", "show", ch.ID))
	}
	// rpm records a package whose %post failed at its new version.
	want := map[string]string{"test-1": "1.1-1", "test-2": "1.1-1", "pilot-1": "1.1-1", "pilot-2": "1.1-1",
		"production-1": "1.0-1", "production-2": "1.0-1"}
	for _, h := range hosts {
		if got := rpmtest.InstalledVersion(t, h.root, "pbtest-hello"); got != want[h.name] {
			t.Errorf("%s has %q, want %s (production must not be touched after the halt)", h.name, got, want[h.name])
		}
	}

	// Roll back: every host that ran its install returns to exactly 1.0-1.
	as(alice, "changes", "rollback", ch.ID)
	deadline = time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, h := range hosts {
			sp.agentJobsRun(t, h.state, h.root, "")
		}
		done := true
		for _, h := range state().Hosts {
			if h.Status == "rolling-back" {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, h := range hosts {
		if got := rpmtest.InstalledVersion(t, h.root, "pbtest-hello"); got != "1.0-1" {
			t.Errorf("after rollback %s has %q, want 1.0-1", h.name, got)
		}
		content, err := os.ReadFile(filepath.Join(h.root, "usr/share/pbtest-hello/version"))
		if err != nil || string(content) != "1.0-1\n" {
			t.Errorf("after rollback %s's installed file says %q (%v), want 1.0-1", h.name, content, err)
		}
		if _, err := os.Stat(filepath.Join(h.root, "root/.rpmdb")); err == nil {
			t.Errorf("%s: dnf wrote a second rpm database to root/.rpmdb instead of the image's", h.name)
		}
	}
	rolled := 0
	for _, h := range state().Hosts {
		if h.Status == "rolled-back" {
			rolled++
		}
	}
	if rolled != 4 {
		t.Errorf("rolled-back hosts: %d, want 4 (3 upgraded and the failed one)\n%s", rolled, as(alice, "changes", "show", ch.ID))
	}
	// The running machine was never touched.
	if out, err := exec.Command("rpm", "--query", "pbtest-hello").CombinedOutput(); err == nil {
		t.Errorf("pbtest-hello is in the test machine's rpm database: %s", out)
	}
}
