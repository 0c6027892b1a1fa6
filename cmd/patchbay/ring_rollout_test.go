package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/rpmtest"
)

// ringRollout is the scenario both real-package-manager tests run: users
// alice (operator) and bob (approver), groups web-test, web-pilot and
// web-prod in the rings test, pilot and production, two hosts in each
// (test-1 … production-2), and a change upgrading pbtest-hello to 1.1-1
// with batch 2 and a failure budget of 0.
type ringRollout struct {
	t          *testing.T
	sp         *serverProc
	hosts      []ringHost
	alice, bob string // API tokens
	sam        string // the groups' stakeholder's API token
	changeID   string
}

// ringHost is one simulated host: an image root the real package manager
// works in, and the agent's state directory.
type ringHost struct{ name, root, state string }

// startRingServer starts the server the ring rollouts run on: no feeds,
// a fast engine and agents checking in every 5 s.
func startRingServer(t *testing.T) *serverProc {
	t.Helper()
	return startServerProc(t, "server", "--feed-source", "none", "--engine-interval", "200ms", "--checkin-interval", "5s")
}

// aptHelloRing is the ring rollout on Debian roots with pbtest-hello 1.0-1
// installed and 1.1-1 offered by an apt repository.
func aptHelloRing(t *testing.T, sp *serverProc) *ringRollout {
	t.Helper()
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	debtest.BuildDeb(t, work, repo, "pbtest-hello", "1.0-1")
	debtest.BuildDeb(t, work, repo, "pbtest-hello", "1.1-1")
	debtest.WritePackagesIndex(t, repo)
	return newRingRollout(t, sp, work, func(h ringHost) { debianHelloRoot(t, h, repo) })
}

// rpmHelloRepo builds an rpm repository under work with pbtest-base and
// pbtest-hello 1.0-1 and 1.1-1 (with post as its %post script, none when
// "") and returns its directory.
func rpmHelloRepo(t *testing.T, work, post string) string {
	t.Helper()
	repo := filepath.Join(work, "repo")
	rpmtest.BuildBase(t, work, repo)
	rpmtest.BuildRPM(t, work, repo, "pbtest-hello", "1.0-1", "")
	rpmtest.BuildRPM(t, work, repo, "pbtest-hello", "1.1-1", post)
	rpmtest.CreateRepo(t, repo)
	return repo
}

// debianHelloRoot makes h's image root a Debian 12 host with pbtest-hello
// 1.0-1 from the apt repository repo, and a shell for its scripts.
func debianHelloRoot(t *testing.T, h ringHost, repo string) {
	t.Helper()
	debtest.MakeImageRoot(t, h.root, repo, "pbtest-hello", "1.0-1")
	debtest.AddStaticShell(t, h.root)
	debtest.WriteFile(t, filepath.Join(h.root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n")
	debtest.WriteFile(t, filepath.Join(h.root, "etc/hostname"), h.name+"\n")
}

// almaHelloRoot makes h's image root an AlmaLinux 9.4 host with pbtest-base
// and pbtest-hello 1.0-1 from the rpm repository repo.
func almaHelloRoot(t *testing.T, h ringHost, repo string) {
	t.Helper()
	rpmtest.MakeImageRoot(t, h.root, repo, "pbtest-base-1-1.noarch.rpm", "pbtest-hello-1.0-1.noarch.rpm")
	debtest.WriteFile(t, filepath.Join(h.root, "etc/os-release"),
		"ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4\"\n")
	debtest.WriteFile(t, filepath.Join(h.root, "etc/hostname"), h.name+"\n")
}

// newRingRollout creates the users and the organisation, and enrolls six
// hosts whose image roots makeRoot prepares under work (with pbtest-hello
// 1.0-1; a pilot-2 root gets /etc/pbtest-fail so 1.1-1's install script
// fails there).
func newRingRollout(t *testing.T, sp *serverProc, work string, makeRoot func(h ringHost)) *ringRollout {
	t.Helper()
	for _, u := range []string{"alice:operator", "bob:approver", "sam:stakeholder"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	orgFile := filepath.Join(work, "org.yaml")
	os.WriteFile(orgFile, []byte(`teams:
  - name: web
    members: [{user: alice, role: operator}, {user: bob, role: approver}, {user: sam, role: stakeholder}]
groups:
  - {name: web-test, team: web, selector: {labels: {ring: test}}, stakeholder: sam, sysadmin: alice, criticality: 2, exposure: internal, ring: test}
  - {name: web-pilot, team: web, selector: {labels: {ring: pilot}}, stakeholder: sam, sysadmin: alice, criticality: 3, exposure: internal, ring: pilot}
  - {name: web-prod, team: web, selector: {labels: {ring: production}}, stakeholder: sam, sysadmin: alice, criticality: 5, exposure: internet, ring: production}
rings: [test, pilot, production]
`), 0o644)
	sp.mustCLI(t, "apply", "-f", orgFile)
	r := &ringRollout{t: t, sp: sp}
	for _, ring := range []string{"test", "pilot", "production"} {
		token := sp.enrollToken(t, "--label", "ring="+ring, "--max-hosts", "2")
		for i := 1; i <= 2; i++ {
			h := ringHost{name: ring + "-" + string(rune('0'+i)), root: filepath.Join(work, ring+string(rune('0'+i))), state: t.TempDir()}
			makeRoot(h)
			if out, err := sp.agentJobsRun(t, h.state, h.root, token); err != nil {
				t.Fatalf("enroll %s: %v\n%s", h.name, err, out)
			}
			r.hosts = append(r.hosts, h)
		}
	}
	r.alice = strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "alice", "--user", "alice", "--role", "operator"))
	r.bob = strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	r.sam = strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "sam", "--user", "sam", "--role", "stakeholder"))
	return r
}

// as runs the CLI with a user's token and fails the test on an error.
func (r *ringRollout) as(tok string, args ...string) string {
	r.t.Helper()
	out, errOut, err := r.try(tok, args...)
	if err != nil {
		r.t.Fatalf("patchbay %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// try runs the CLI with a user's token.
func (r *ringRollout) try(tok string, args ...string) (string, string, error) {
	return run(r.t, append([]string{"--server", r.sp.url, "--ca", filepath.Join(r.sp.dataDir, "ca.crt"), "--token", tok}, args...)...)
}

// createAndSubmit drafts the change over the three groups as alice and
// submits it for approval.
func (r *ringRollout) createAndSubmit() {
	r.t.Helper()
	var ch struct {
		ID    string
		State string
		Plan  struct{ Hosts []struct{ HostID string } }
	}
	json.Unmarshal([]byte(r.as(r.alice, "changes", "create", "pbtest-hello 1.1", "--group", "web-test", "--group", "web-pilot",
		"--group", "web-prod", "--package", "pbtest-hello@1.1-1", "--batch", "2", "--failure-budget", "0",
		"--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	if ch.ID == "" || ch.State != "draft" || len(ch.Plan.Hosts) != 6 {
		r.t.Fatalf("change: %+v", ch)
	}
	r.changeID = ch.ID
	r.as(r.alice, "changes", "submit", ch.ID)
}

// approveAndStart has bob approve the change and alice start it.
func (r *ringRollout) approveAndStart() {
	r.t.Helper()
	r.as(r.bob, "changes", "approve", r.changeID)
	r.as(r.alice, "changes", "start", r.changeID)
}

func (r *ringRollout) state() changeView {
	r.t.Helper()
	var v changeView
	json.Unmarshal([]byte(r.as(r.alice, "changes", "show", r.changeID, "-o", "json")), &v)
	return v
}

// runUntilStopped has every agent check in (and run its jobs) until the
// change halts or awaits sign-off with no job in flight (jobs already out
// when it halted still finish), and returns the change and the failed
// host's detail.
// checkHaltedAtThePilot fails the test unless v, the change once stopped,
// is halted by one failure and every host's pbtest-hello (as installed
// reads it) is at want[host]: production untouched after the halt.
func (r *ringRollout) checkHaltedAtThePilot(v changeView, installed func(t testing.TB, root, name string) string, want map[string]string) {
	t := r.t
	t.Helper()
	if v.State != "halted" || v.Summary == nil || v.Summary.Failed != 1 {
		t.Fatalf("after the pilot failure: %+v\n%s", v.Summary, r.as(r.alice, "changes", "show", r.changeID))
	}
	for _, h := range r.hosts {
		if got := installed(t, h.root, "pbtest-hello"); got != want[h.name] {
			t.Errorf("%s has %q, want %q (production must not be touched after the halt)", h.name, got, want[h.name])
		}
	}
}

// checkRolledBack fails the test unless every host that ran its install
// is back at exactly pbtest-hello 1.0-1 and rolled, the hosts the rollback
// counted, is 4: the 3 upgraded and the failed one.
func (r *ringRollout) checkRolledBack(rolled int, installed func(t testing.TB, root, name string) string) {
	t := r.t
	t.Helper()
	for _, h := range r.hosts {
		if got := installed(t, h.root, "pbtest-hello"); got != "1.0-1" {
			t.Errorf("after rollback %s has %q, want 1.0-1", h.name, got)
		}
	}
	if rolled != 4 {
		t.Errorf("rolled-back hosts: %d, want 4 (3 upgraded and the failed one)\n%s", rolled, r.as(r.alice, "changes", "show", r.changeID))
	}
}

func (r *ringRollout) runUntilStopped(within time.Duration) (changeView, string) {
	r.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		r.runAgents(r.t)
		if v := r.state(); (v.State == "halted" || v.State == "awaiting-signoff") && v.Summary != nil && v.Summary.InFlight == 0 {
			break
		}
	}
	v := r.state()
	failed := ""
	for _, h := range v.Hosts {
		if h.Status == "failed" {
			failed = h.Detail
		}
	}
	return v, failed
}

// rollBack rolls the whole change back, runs the agents until no host is
// rolling back, and returns how many hosts were rolled back.
func (r *ringRollout) rollBack(within time.Duration) int {
	r.t.Helper()
	r.as(r.alice, "changes", "rollback", r.changeID)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		r.runAgents(r.t)
		busy := false
		for _, h := range r.state().Hosts {
			busy = busy || h.Status == "rolling-back"
		}
		if !busy {
			break
		}
	}
	rolled := 0
	for _, h := range r.state().Hosts {
		if h.Status == "rolled-back" {
			rolled++
		}
	}
	return rolled
}
