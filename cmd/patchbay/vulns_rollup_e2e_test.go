package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/api"
)

// threeJammyHosts starts a server with three real agents (jammy-1 … 3, the
// same dpkg status as Ubuntu 22.04) and imports USN-7768-1 and
// UBUNTU-CVE-2025-6297, which both affect dpkg 1.19.0.5ubuntu2 and nothing
// else installed. Counted by hand: 3 hosts × 2 advisories = 6 open
// findings, each advisory on 3 distinct hosts, each host with 2, the one
// package dpkg on 3 hosts with 2 advisories.
func threeJammyHosts(t *testing.T) *serverProc {
	t.Helper()
	sp := startServerProc(t, "server", "--checkin-interval", "1h", "--feed-source", "none")
	token := sp.enrollToken(t)
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("jammy-%d", i)
		if out, err := sp.agentRun(t, t.TempDir(), ubuntu2204Root(t, name), token); err != nil {
			t.Fatalf("agent %s: %v\n%s", name, err, out)
		}
	}
	sp.importFeed(t, "testdata/feeds/USN-7768-1.json")
	sp.importFeed(t, "testdata/feeds/UBUNTU-CVE-2025-6297.json")
	return sp
}

func TestVulnsListRollupsCountDistinctHostsInTableAndJSON(t *testing.T) {
	sp := threeJammyHosts(t)

	// JSON, by advisory (the default).
	var advs []api.FindingRollup
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "vulns", "list", "-o", "json", "--sort", "advisory")), &advs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range advs {
		got = append(got, fmt.Sprintf("%s hosts=%d findings=%d", r.AdvisoryID, r.Hosts, r.Findings))
	}
	if want := []string{"UBUNTU-CVE-2025-6297 hosts=3 findings=3", "USN-7768-1 hosts=3 findings=3"}; !slices.Equal(got, want) {
		t.Errorf("vulns list (by advisory): %q, want %q", got, want)
	}
	if len(advs) > 0 && (advs[0].Severity != "high" || advs[0].FindingsURL == "") {
		t.Errorf("UBUNTU-CVE-2025-6297 roll-up: %+v", advs[0])
	}

	// Table, by host and by package: the numbers as counted by hand.
	out, errOut, err := sp.cli(t, "vulns", "list", "--by", "host", "--sort", "hostname")
	if err != nil || errOut != "" {
		t.Fatalf("vulns list --by host: %v %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "HOST ") {
		t.Fatalf("vulns list --by host:\n%s", out)
	}
	for i, l := range lines[1:] {
		// HOST PRIORITY ADVISORIES FINDINGS EXCEPTED FIX-AVAILABLE KEV OVERDUE DUE
		f := strings.Fields(l)
		if f[0] != fmt.Sprintf("jammy-%d", i+1) || f[2] != "2" || f[3] != "2" || f[4] != "0" {
			t.Errorf("host row %q: want jammy-%d with 2 advisories, 2 findings, 0 excepted", l, i+1)
		}
	}
	out = sp.mustCLI(t, "vulns", "list", "--by", "package")
	if f := strings.Fields(strings.Split(out, "\n")[1]); f[0] != "dpkg" || f[2] != "3" || f[3] != "2" || f[4] != "6" {
		t.Errorf("vulns list --by package:\n%s\nwant dpkg on 3 hosts, 2 advisories, 6 findings", out)
	}

	// vulns show counts distinct hosts.
	out = sp.mustCLI(t, "vulns", "show", "USN-7768-1")
	if !regexpLine(out, `affected hosts\s+3$`) || !regexpLine(out, `open findings\s+3 \(one per host and package\)$`) {
		t.Errorf("vulns show USN-7768-1:\n%s", out)
	}

	// The hosts list shows each host's open findings.
	out = sp.mustCLI(t, "hosts", "list")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("hosts list:\n%s", out)
	}
	col := slices.Index(strings.Fields(lines[0]), "FINDINGS")
	for _, l := range lines[1:] {
		// OS names have spaces: count FINDINGS from the right (REBOOT,
		// LAST SEEN (2 words), STATE, ID follow it).
		f := strings.Fields(l)
		if col < 0 || f[len(f)-6] != "2" {
			t.Errorf("hosts list row %q: want 2 findings (header %q)", l, lines[0])
		}
	}
	for _, h := range sp.hosts(t) {
		if h.OpenFindings != 2 {
			t.Errorf("hosts list -o json: %s has open_findings %d, want 2", h.Hostname, h.OpenFindings)
		}
	}
}

func TestVulnsListPagesAndExitCodes(t *testing.T) {
	sp := threeJammyHosts(t)

	// A cut table says so on stderr; JSON never does.
	out, errOut, err := sp.cli(t, "vulns", "list", "--by", "host", "--limit", "1")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 1 || strings.TrimSpace(errOut) != "showing 1 of 3 hosts (--all for every one, or --limit N)" {
		t.Errorf("--limit 1: err %v\nstdout:\n%s\nstderr: %q", err, out, errOut)
	}
	out, errOut, err = sp.cli(t, "vulns", "list", "--by", "finding", "--limit", "4")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 4 || !strings.HasPrefix(errOut, "showing 4 of 6 findings") {
		t.Errorf("--by finding --limit 4: err %v\nstdout:\n%s\nstderr: %q", err, out, errOut)
	}
	out, errOut, err = sp.cli(t, "vulns", "list", "--by", "host", "--limit", "2", "-o", "json")
	var hosts []api.FindingRollup
	if err != nil || errOut != "" || json.Unmarshal([]byte(out), &hosts) != nil || len(hosts) != 2 {
		t.Errorf("--limit 2 -o json: err %v, stderr %q, %d rows\n%s", err, errOut, len(hosts), out)
	}
	// --all follows the pages: by finding, pages of one would be 6 calls;
	// the CLI asks for up to 1000 a page, so check the whole set instead.
	out, errOut, err = sp.cli(t, "vulns", "list", "--by", "finding", "--all")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 6 || errOut != "" {
		t.Errorf("--all: err %v, stderr %q\n%s", err, errOut, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "cve"}, `--by "cve": use advisory, host, package or finding`},
		{[]string{"--sort", "nope"}, `sort "nope" (want one of priority, hosts`},
		{[]string{"--status", "resolved", "--by", "advisory"}, "add --by finding"},
		{[]string{"--severity", "bad"}, "severity must be critical, high, medium, low, none or unknown"},
		{[]string{"--kev", "maybe"}, `--kev "maybe": use true or false`},
		{[]string{"--by", "finding", "--group", "web"}, "--group works with --by advisory, host or package"},
		{[]string{"--limit", "0"}, "--limit 0: give a positive number, or --all"},
		{[]string{"--host", "no-such-host"}, `no host "no-such-host"`},
	} {
		_, errOut, err := sp.cli(t, append([]string{"vulns", "list"}, c.args...)...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("vulns list %s: err %v, stderr %q; want a failure saying %s", strings.Join(c.args, " "), err, errOut, c.want)
		}
	}
	// Unknown severity is a filter (it selected everything before).
	if out := sp.mustCLI(t, "vulns", "list", "--severity", "unknown", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("--severity unknown: %s", out)
	}
}

// regexpLine reports whether a line of out matches the pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(out)
}
