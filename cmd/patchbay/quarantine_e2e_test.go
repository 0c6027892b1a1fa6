package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quarantineOrgYAML: one team whose KEV findings are due on CISA's due
// date, one group of one host that quarantines through the hook "isolate".
const quarantineOrgYAML = `teams:
  - name: ops
    members:
      - {user: alice, role: operator}
    policy:
      kev: cisa_due_date
groups:
  - name: servers
    team: ops
    selector: {hosts: [jammy-1]}
    stakeholder: carol
    sysadmin: alice
    criticality: 3
    exposure: internal
    ring: test
    enforcement: {kev: true, action: quarantine, hook: isolate}
rings: [test]
`

// TestAHostPastItsSLAIsQuarantinedOnceAndReleasedWhenPatched: the real
// server, real agent processes and a hook script that records its
// argument. CVE-2025-6297 (dpkg, USN-7768-1) is put in a KEV catalog due
// 2025-09-15, so the host's finding is past due from the start.
func TestAHostPastItsSLAIsQuarantinedOnceAndReleasedWhenPatched(t *testing.T) {
	sp := startServerProc(t, "server", "--checkin-interval", "2s", "--feed-source", "none")
	for _, u := range []string{"alice:operator", "carol:stakeholder"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	dir := t.TempDir()
	orgPath := filepath.Join(dir, "org.yaml")
	os.WriteFile(orgPath, []byte(quarantineOrgYAML), 0o644)
	if out := sp.mustCLI(t, "apply", "-f", orgPath); !strings.Contains(out, "applied: revision 1") {
		t.Fatalf("apply:\n%s", out)
	}

	record := filepath.Join(dir, "isolate.log")
	script := filepath.Join(dir, "isolate.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" >> "+record+"\n"), 0o755)
	state := t.TempDir()
	hooks := filepath.Join(state, "hooks.json")
	os.WriteFile(hooks, []byte(`{"isolate": ["`+script+`"]}`), 0o600)
	root := ubuntu2204Root(t, "jammy-1")
	agent := func(token string) {
		t.Helper()
		args := []string{"agent", "--server", sp.url, "--state-dir", state, "--root", root, "--once",
			"--hooks", hooks, "--reboot-command", "/bin/true"}
		if token != "" {
			args = append(args, "--enroll-token", token)
		}
		if _, errOut, err := run(t, args...); err != nil {
			t.Fatalf("agent: %v\n%s", err, errOut)
		}
	}
	recorded := func() string {
		b, _ := os.ReadFile(record)
		return string(b)
	}
	agent(sp.enrollToken(t))

	kev := filepath.Join(dir, "kev.json")
	os.WriteFile(kev, []byte(`{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.09.01",
 "dateReleased": "2025-09-01T00:00:00Z", "count": 1, "vulnerabilities": [{"cveID": "CVE-2025-6297", "vendorProject": "Debian",
 "product": "dpkg", "vulnerabilityName": "dpkg Temporary Files Vulnerability", "dateAdded": "2025-09-01",
 "shortDescription": "test", "requiredAction": "Apply updates.", "dueDate": "2025-09-15", "knownRansomwareCampaignUse": "Unknown", "notes": ""}]}`), 0o644)
	sp.importFeed(t, kev)
	sp.importFeed(t, "testdata/feeds/USN-7768-1.json")
	fs := byAdvisory(sp.findings(t, "--host", "jammy-1"))
	if f := fs["USN-7768-1"]; !f.KEV || f.DueAt == nil || f.DueAt.After(time.Now()) {
		t.Fatalf("USN-7768-1: KEV %v due %v; want a KEV finding past due", f.KEV, f.DueAt)
	}

	// The enforcement loop runs a minute after start, then every minute.
	waitSlowly(t, func() bool {
		q := sp.show(t, "jammy-1").Quarantine
		return q != nil && q.Active
	}, "the host is quarantined")
	if q := sp.show(t, "jammy-1").Quarantine; q == nil || q.Hook != "isolate" || !strings.Contains(q.Reason, "USN-7768-1") {
		t.Fatalf("quarantine %+v", q)
	}
	agent("")
	agent("")
	if got := recorded(); got != "quarantine\n" {
		t.Fatalf("hook ran %q, want quarantine once", got)
	}
	if out := sp.mustCLI(t, "hosts", "show", "jammy-1", "--no-packages"); !strings.Contains(out, "quarantined since") {
		t.Errorf("hosts show does not say quarantined:\n%s", out)
	}

	// A change (here: the host itself) upgrades dpkg to the fixed version.
	replaceInFile(t, filepath.Join(root, "var/lib/dpkg/status"), "Version: 1.19.0.5ubuntu2\n", "Version: 1.21.1ubuntu2.6\n")
	agent("")
	waitSlowly(t, func() bool {
		q := sp.show(t, "jammy-1").Quarantine
		return q != nil && !q.Active && q.ReleasedAt != nil
	}, "the host is released")
	agent("")
	agent("")
	if got := recorded(); got != "quarantine\nrelease\n" {
		t.Fatalf("hook ran %q, want quarantine then release, once each", got)
	}
	if out := sp.mustCLI(t, "hosts", "show", "jammy-1", "--no-packages"); !strings.Contains(out, "released ") {
		t.Errorf("hosts show does not say released:\n%s", out)
	}
}

// waitSlowly polls cond once a second for up to three minutes (the
// enforcement loop runs every minute), failing t now if it never holds.
func waitSlowly(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}
