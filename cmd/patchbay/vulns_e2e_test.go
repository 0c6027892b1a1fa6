package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
)

// ubuntu2204Root is the real Ubuntu 18.04 dpkg status presented as a 22.04
// host, so the real USN-7768-1 (dpkg fixed in 1.21.1ubuntu2.6 on 22.04)
// applies to its dpkg 1.19.0.5ubuntu2.
func ubuntu2204Root(t *testing.T, hostname string) string {
	t.Helper()
	root := ubuntuRoot(t, hostname)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 22.04.5 LTS\"\nVERSION_CODENAME=jammy\n"), 0o644)
	return root
}

func (sp *serverProc) findings(t *testing.T, args ...string) []api.Finding {
	t.Helper()
	var fs []api.Finding
	if err := json.Unmarshal([]byte(sp.mustCLI(t, append([]string{"vulns", "list", "--by", "finding", "--all", "-o", "json"}, args...)...)), &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

func (sp *serverProc) importFeed(t *testing.T, path string) []api.ImportResult {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []api.ImportResult
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "feeds", "import", abs, "-o", "json")), &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func byAdvisory(fs []api.Finding) map[string]api.Finding {
	m := map[string]api.Finding{}
	for _, f := range fs {
		m[f.AdvisoryID] = f
	}
	return m
}

func TestFindingsOpenAndResolveThroughTheRealAgent(t *testing.T) {
	sp := startServerProc(t, "server", "--checkin-interval", "2s", "--feed-source", "none")
	token := sp.enrollToken(t)
	root, state := ubuntu2204Root(t, "jammy-1"), t.TempDir()
	if out, err := sp.agentRun(t, state, root, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}

	// Importing the advisories reconciles the host at once.
	r := sp.importFeed(t, "testdata/feeds/USN-7768-1.json")
	if len(r) != 1 || r[0].Feed.Records != 1 || r[0].ChangedRecords != 1 || r[0].HostsReconciled != 1 {
		t.Fatalf("import USN-7768-1: %+v", r)
	}
	sp.importFeed(t, "testdata/feeds/UBUNTU-CVE-2025-6297.json")
	// Re-importing the same record changes nothing.
	if r := sp.importFeed(t, "testdata/feeds/USN-7768-1.json"); r[0].ChangedRecords != 0 {
		t.Errorf("re-import changed %d records, want 0", r[0].ChangedRecords)
	}

	fs := byAdvisory(sp.findings(t, "--host", "jammy-1"))
	usn, cve := fs["USN-7768-1"], fs["UBUNTU-CVE-2025-6297"]
	if len(fs) != 2 || usn.Package != "dpkg" || cve.Package != "dpkg" {
		t.Fatalf("want dpkg findings for USN-7768-1 and UBUNTU-CVE-2025-6297, got %+v", fs)
	}
	if usn.InstalledVersion != "1.19.0.5ubuntu2" || usn.FixedVersion != "1.21.1ubuntu2.6" || usn.Status != "open" ||
		!strings.Contains(strings.Join(usn.CVEs, ","), "CVE-2025-6297") {
		t.Errorf("USN-7768-1 finding: %+v", usn)
	}
	if cve.FixedVersion != "" {
		t.Errorf("UBUNTU-CVE-2025-6297 has no fix on 22.04 yet, got fixed %q", cve.FixedVersion)
	}
	// CVSS 3.1 AV:N/AC:L/PR:N/UI:N/C:H/I:L/A:N is 8.2, high: due 30 days after first seen.
	if cve.Severity != "high" || cve.Priority <= 0 || cve.DueAt == nil || len(cve.Reasons) == 0 {
		t.Errorf("scoring of UBUNTU-CVE-2025-6297: severity %q priority %v due %v reasons %v", cve.Severity, cve.Priority, cve.DueAt, cve.Reasons)
	} else if d := cve.DueAt.Sub(cve.FirstSeenAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("high finding due %s after first seen, want 30 days (%s)", d, cve.DueReason)
	}
	if got := sp.findings(t, "--severity", "critical"); len(got) != 0 {
		t.Errorf("severity filter: %d critical findings", len(got))
	}

	// vulns show names the affected host.
	var shown []api.Vulnerability
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "vulns", "show", "CVE-2025-6297", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 2 || len(shown[0].Findings) != 1 || shown[0].Findings[0].Hostname != "jammy-1" {
		t.Errorf("vulns show CVE-2025-6297: %+v", shown)
	}

	// The host upgrades dpkg to the fixed version: the USN finding resolves
	// by itself with the change recorded; the unfixed CVE stays open.
	replaceInFile(t, filepath.Join(root, "var/lib/dpkg/status"), "Version: 1.19.0.5ubuntu2\n", "Version: 1.21.1ubuntu2.6\n")
	if out, err := sp.agentRun(t, state, root, ""); err != nil {
		t.Fatalf("agent after upgrade: %v\n%s", err, out)
	}
	var resolved api.Finding
	waitFor(t, func() bool {
		all := byAdvisory(sp.findings(t, "--host", "jammy-1", "--status", "all"))
		resolved = all["USN-7768-1"]
		return resolved.Status == "resolved"
	}, "USN-7768-1 resolves after the upgrade")
	if resolved.ResolvedAt == nil || resolved.Resolution != "dpkg upgraded from 1.19.0.5ubuntu2 to 1.21.1ubuntu2.6" {
		t.Errorf("resolution: %q at %v", resolved.Resolution, resolved.ResolvedAt)
	}
	open := byAdvisory(sp.findings(t, "--host", "jammy-1"))
	if len(open) != 1 || open["UBUNTU-CVE-2025-6297"].InstalledVersion != "1.21.1ubuntu2.6" {
		t.Errorf("open after upgrade: %+v", open)
	}

	// hosts show carries the findings too.
	var detail struct {
		Findings []api.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "hosts", "show", "jammy-1", "-o", "json")), &detail); err != nil {
		t.Fatal(err)
	}
	if len(detail.Findings) != 1 {
		t.Errorf("hosts show lists %d open findings, want 1", len(detail.Findings))
	}
}

func TestFeedImportRejectsBadRecordsAndKeepsTheRest(t *testing.T) {
	sp := startServerProc(t, "server", "--feed-source", "none")
	dir := t.TempDir()
	for _, f := range []string{"USN-7768-1.json", "UBUNTU-CVE-2025-6297.json"} {
		b, err := os.ReadFile("testdata/feeds/" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"id": "BROKEN-1", "affected": [`), 0o644)
	os.WriteFile(filepath.Join(dir, "unknown-eco.json"), []byte(`{"id":"X-1","modified":"2025-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Plan9:4","name":"acme"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`), 0o644)
	r := sp.importFeed(t, dir)
	if len(r) != 1 || r[0].Feed.Records != 2 || r[0].Feed.Rejected != 2 || len(r[0].Feed.Rejections) != 2 {
		t.Fatalf("import of a directory with 2 bad records: %+v", r)
	}
	for _, rej := range r[0].Feed.Rejections {
		if !strings.Contains(rej.Record, "broken.json") && !strings.Contains(rej.Record, "unknown-eco.json") || rej.Reason == "" {
			t.Errorf("rejection without file or reason: %+v", rej)
		}
	}
	// A file that is no feed at all is refused as a whole, clearly.
	bad := filepath.Join(dir, "notes.txt")
	os.WriteFile(bad, []byte("hello\n"), 0o644)
	_, errOut, err := sp.cli(t, "feeds", "import", bad)
	if err == nil || !strings.Contains(errOut, "not a feed") {
		t.Errorf("import of a text file: %v %s", err, errOut)
	}
	// KEV: the real catalog in JSON and CSV imports the same 1,404 entries;
	// re-importing changes nothing.
	kev := sp.importFeed(t, "../../internal/advisory/testdata/kev/known_exploited_vulnerabilities.json")
	if kev[0].Feed.Records != 1404 || kev[0].Feed.Rejected != 0 {
		t.Errorf("KEV JSON: %+v", kev[0].Feed)
	}
	kev = sp.importFeed(t, "../../internal/advisory/testdata/kev/known_exploited_vulnerabilities.csv")
	if kev[0].Feed.Records != 1404 || kev[0].Feed.Changed != 0 {
		t.Errorf("KEV CSV after JSON: records %d changed %d, want 1404 and 0", kev[0].Feed.Records, kev[0].Feed.Changed)
	}
	var status []api.FeedStatus
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "feeds", "status", "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if len(status) != 2 {
		t.Errorf("feeds status: %+v", status)
	}
}

func TestScanWithoutAServer(t *testing.T) {
	root := ubuntu2204Root(t, "offline-1")
	feeds := t.TempDir()
	for _, f := range []string{"testdata/feeds/USN-7768-1.json", "testdata/feeds/UBUNTU-CVE-2025-6297.json",
		"../../internal/advisory/testdata/kev/known_exploited_vulnerabilities.csv"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(feeds, filepath.Base(f)), b, 0o644)
	}
	cache := t.TempDir()
	type result struct {
		Host     string `json:"host"`
		Packages int    `json:"packages"`
		Findings []struct {
			Package, AdvisoryID, FixedVersion, Severity string
			InstalledVersion                            string `json:"installed_version"`
		} `json:"findings"`
	}
	for i, want := range []string{"(read)", "(from cache)"} {
		out, errOut, err := run(t, "scan", "--root", root, "--feeds", feeds, "--cache-dir", cache, "--no-updates", "-o", "json")
		if err != nil {
			t.Fatalf("scan %d: %v\n%s", i, err, errOut)
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("scan %d: stderr %q does not say %s", i, errOut, want)
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Host != "offline-1" || r.Packages != 90 || len(r.Findings) != 2 {
			t.Fatalf("scan %d: %+v", i, r)
		}
		for _, f := range r.Findings {
			if f.Package != "dpkg" || f.InstalledVersion != "1.19.0.5ubuntu2" {
				t.Errorf("scan finding: %+v", f)
			}
		}
	}
}
