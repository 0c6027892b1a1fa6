package advisory

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
	"github.com/patchbay/patchbay/internal/version"
)

func parseFile(t *testing.T, path string) Advisory {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	adv, err := ParseOSV(f, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	return adv
}

func TestReadOSVUbuntu(t *testing.T) {
	feed, err := ReadOSV(context.Background(), "testdata/osv/ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Advisories) != 5 || len(feed.Rejected) != 0 {
		t.Fatalf("got %d advisories, %d rejected (%v); want 5, 0", len(feed.Advisories), len(feed.Rejected), feed.Rejected)
	}
	if feed.Source != SourceOSV || feed.Name != "ubuntu" {
		t.Errorf("feed = %q/%q", feed.Source, feed.Name)
	}
}

func TestParseOSVUSNHasFixedVersionAndBinaries(t *testing.T) {
	adv := parseFile(t, "testdata/osv/ubuntu/USN-7768-1.json")
	if adv.ID != "USN-7768-1" || adv.Summary != "dpkg vulnerability" {
		t.Errorf("ID, Summary = %q, %q", adv.ID, adv.Summary)
	}
	if !slices.Equal(adv.CVEs, []string{"CVE-2025-6297"}) {
		t.Errorf("CVEs = %v, want [CVE-2025-6297] (from upstream and cves_map)", adv.CVEs)
	}
	if !slices.Equal(adv.Upstream, []string{"UBUNTU-CVE-2025-6297"}) {
		t.Errorf("Upstream = %v", adv.Upstream)
	}
	if adv.SeverityWord != "low" {
		t.Errorf("SeverityWord = %q, want low (Ubuntu severity in cves_map)", adv.SeverityWord)
	}
	if want := time.Date(2025, 9, 24, 12, 54, 0, 0, time.UTC); !adv.Published.Equal(want) {
		t.Errorf("Published = %v, want %v", adv.Published, want)
	}
	if len(adv.Affected) != 2 {
		t.Fatalf("%d affected entries, want 2", len(adv.Affected))
	}
	a := adv.Affected[0]
	wantDistro := Distro{ID: "ubuntu", Release: "22.04", Variant: "LTS", Format: version.Dpkg}
	if a.Ecosystem != "Ubuntu:22.04:LTS" || a.Distro != wantDistro || a.Package != "dpkg" {
		t.Errorf("affected[0] = %q %+v %q", a.Ecosystem, a.Distro, a.Package)
	}
	if !slices.Equal(a.FixedVersions(), []string{"1.21.1ubuntu2.6"}) {
		t.Errorf("fixed = %v, want [1.21.1ubuntu2.6]", a.FixedVersions())
	}
	if !slices.Equal(a.Binaries, []string{"dpkg", "dselect", "libdpkg-perl"}) {
		t.Errorf("Binaries = %v", a.Binaries)
	}
	if len(a.Versions) != 7 {
		t.Errorf("%d versions, want 7", len(a.Versions))
	}
	if len(adv.References) != 2 {
		t.Errorf("References = %v", adv.References)
	}
}

func TestParseOSVUnfixedUbuntuCVEHasExplicitVersionsAndNoFix(t *testing.T) {
	adv := parseFile(t, "testdata/osv/ubuntu/UBUNTU-CVE-2016-2781.json")
	if !slices.Equal(adv.CVEs, []string{"CVE-2016-2781"}) {
		t.Errorf("CVEs = %v", adv.CVEs)
	}
	if adv.SeverityWord != "low" {
		t.Errorf("SeverityWord = %q, want low (ubuntu_priority)", adv.SeverityWord)
	}
	if len(adv.Severity) != 1 || adv.Severity[0].Type != "CVSS_V3" || !strings.HasPrefix(adv.Severity[0].Score, "CVSS:3.0/") {
		t.Errorf("Severity = %v", adv.Severity)
	}
	var pro *Affected
	for i, a := range adv.Affected {
		if len(a.FixedVersions()) != 0 {
			t.Errorf("%s has fixed versions %v; the CVE is unfixed", a.Ecosystem, a.FixedVersions())
		}
		if a.Ecosystem == "Ubuntu:Pro:16.04:LTS" {
			pro = &adv.Affected[i]
		}
	}
	if pro == nil {
		t.Fatal("no Ubuntu:Pro:16.04:LTS entry")
	}
	if want := (Distro{ID: "ubuntu", Release: "16.04", Variant: "Pro", Format: version.Dpkg}); pro.Distro != want {
		t.Errorf("Distro = %+v, want %+v", pro.Distro, want)
	}
	if !slices.Equal(pro.Versions, []string{"8.23-4ubuntu2", "8.25-2ubuntu2", "8.25-2ubuntu3~16.04"}) {
		t.Errorf("Versions = %v", pro.Versions)
	}
	affected, fixed, err := pro.IsAffected("8.25-2ubuntu3~16.04")
	if err != nil || !affected || fixed != "" {
		t.Errorf("IsAffected = %v, %q, %v; want true, \"\", nil", affected, fixed, err)
	}
}

func TestParseOSVUbuntuSchema17(t *testing.T) {
	adv := parseFile(t, "testdata/osv/ubuntu/UBUNTU-CVE-2025-6297.json")
	if adv.SeverityWord != "low" {
		t.Errorf("SeverityWord = %q, want low (severity type Ubuntu)", adv.SeverityWord)
	}
	var releases []string
	for _, a := range adv.Affected {
		releases = append(releases, a.Distro.Release)
	}
	for _, want := range []string{"24.10", "25.04"} {
		if !slices.Contains(releases, want) {
			t.Errorf("no affected entry for interim release %s (have %v)", want, releases)
		}
	}
}

func TestReadOSVAlmaLinux(t *testing.T) {
	feed, err := ReadOSV(context.Background(), "testdata/osv/almalinux")
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Advisories) != 24 || len(feed.Rejected) != 0 {
		t.Fatalf("got %d advisories, %d rejected (%v); want 24, 0", len(feed.Advisories), len(feed.Rejected), feed.Rejected)
	}
	byID := map[string]Advisory{}
	for _, a := range feed.Advisories {
		byID[a.ID] = a
	}
	tests := []struct {
		id, severity, pkg, fixed string
		distro                   Distro
	}{
		{"ALSA-2025:10073", "high", "firefox", "128.12.0-1.el10_0", Distro{ID: "almalinux", Release: "10", Format: version.RPM}},
		{"ALSA-2019:3735", "critical", "libzip", "", Distro{ID: "almalinux", Release: "8", Format: version.RPM}},
		{"ALSA-2022:5244", "medium", "expat", "", Distro{ID: "almalinux", Release: "9", Format: version.RPM}},
		{"ALSA-2019:2722", "low", "libwmf", "", Distro{ID: "almalinux", Release: "8", Format: version.RPM}},
		{"ALBA-2019:0973", "", "", "", Distro{ID: "almalinux", Release: "8", Format: version.RPM}},
	}
	for _, tt := range tests {
		adv, ok := byID[tt.id]
		if !ok {
			t.Errorf("%s not read", tt.id)
			continue
		}
		if adv.SeverityWord != tt.severity {
			t.Errorf("%s: SeverityWord = %q, want %q", tt.id, adv.SeverityWord, tt.severity)
		}
		if adv.Affected[0].Distro != tt.distro {
			t.Errorf("%s: Distro = %+v, want %+v", tt.id, adv.Affected[0].Distro, tt.distro)
		}
		if tt.pkg == "" {
			continue
		}
		found := false
		for _, a := range adv.Affected {
			if a.Package == tt.pkg {
				found = true
				if tt.fixed != "" && !slices.Equal(a.FixedVersions(), []string{tt.fixed}) {
					t.Errorf("%s %s: fixed = %v, want %s", tt.id, tt.pkg, a.FixedVersions(), tt.fixed)
				}
			}
		}
		if !found {
			t.Errorf("%s: no affected entry for %s", tt.id, tt.pkg)
		}
	}
}

func TestParseOSVAlmaLinuxEpochFixedVersion(t *testing.T) {
	adv := parseFile(t, "testdata/osv/almalinux/almalinux9/ALSA-2022_5099.json")
	var grub *Affected
	for i, a := range adv.Affected {
		if a.Package == "grub2-common" {
			grub = &adv.Affected[i]
		}
	}
	if grub == nil {
		t.Fatal("no grub2-common entry")
	}
	fixed := grub.FixedVersions()
	if len(fixed) != 1 || !strings.HasPrefix(fixed[0], "1:") {
		t.Fatalf("fixed = %v, want one EVR with epoch 1", fixed)
	}
	// The installed version without its epoch is epoch 0 and so older
	// than any fix with epoch 1.
	tests := []struct {
		installed string
		affected  bool
	}{
		{"1:2.06-1.el9", true},
		{fixed[0], false},
		{"2:0.1-1.el9", false},
		{"9.99-1.el9", true},
	}
	for _, tt := range tests {
		got, gotFixed, err := grub.IsAffected(tt.installed)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.affected {
			t.Errorf("IsAffected(%q) = %v, want %v", tt.installed, got, tt.affected)
		}
		if got && gotFixed != fixed[0] {
			t.Errorf("IsAffected(%q) fixed = %q, want %q", tt.installed, gotFixed, fixed[0])
		}
	}
}

func TestReadOSVRejectsTheBrokenRecordAndReadsTheRest(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/osv/ubuntu/USN-7768-1.json")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"a/good.json":          string(good),
		"a/broken.json":        `{"id": "BROKEN-1", "modified": "2025-01-01T00:00:00Z", "affected": [`,
		"b/unknown-eco.json":   `{"id": "X-1", "modified": "2025-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "Plan9:4", "name": "rc"}}]}`,
		"b/bad-version.json":   `{"id": "X-2", "modified": "2025-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "not a version"}]}]}]}`,
		"b/no-modified.json":   `{"id": "X-3"}`,
		"b/duplicate.json":     strings.Replace(string(good), `"modified": "2026-04-27T14:11:45Z"`, `"modified": "2020-01-01T00:00:00Z"`, 1),
		"b/not-a-record.txt":   "ignored: not .json",
		"b/same-copy.json":     string(good),
		"c/withdrawn-ok.json":  `{"id": "X-4", "modified": "2025-01-01T00:00:00Z", "withdrawn": "2025-02-01T00:00:00Z"}`,
		"c/trailing-data.json": `{"id": "X-5", "modified": "2025-01-01T00:00:00Z"} {}`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	feed, err := ReadOSV(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range feed.Advisories {
		ids = append(ids, a.ID)
	}
	if feed.Duplicates != 1 {
		t.Errorf("Duplicates = %d, want 1 (b/same-copy.json)", feed.Duplicates)
	}
	if !slices.Equal(ids, []string{"USN-7768-1", "X-4"}) {
		t.Errorf("advisories = %v, want [USN-7768-1 X-4]", ids)
	}
	wantReasons := map[string]string{
		"a/broken.json":        "invalid OSV JSON",
		"b/unknown-eco.json":   `unknown ecosystem "Plan9:4"`,
		"b/bad-version.json":   `invalid dpkg version "not a version"`,
		"b/no-modified.json":   "no modified time",
		"b/duplicate.json":     "duplicate id USN-7768-1",
		"c/trailing-data.json": "data after the record",
	}
	if len(feed.Rejected) != len(wantReasons) {
		t.Errorf("rejected %v, want %d", feed.Rejected, len(wantReasons))
	}
	for _, r := range feed.Rejected {
		want, ok := wantReasons[r.Record]
		if !ok {
			t.Errorf("unexpected rejection %+v", r)
			continue
		}
		if !strings.Contains(r.Reason, want) {
			t.Errorf("%s rejected for %q, want a reason containing %q", r.Record, r.Reason, want)
		}
	}
}

func TestReadOSVZip(t *testing.T) {
	p := writeZip(t, map[string]string{
		"USN-7768-1.json":    readString(t, "testdata/osv/ubuntu/USN-7768-1.json"),
		"../escape.json":     readString(t, "testdata/osv/ubuntu/UBUNTU-CVE-2022-4899.json"),
		"ok/UBUNTU-CVE.json": readString(t, "testdata/osv/ubuntu/UBUNTU-CVE-2016-2781.json"),
		"bomb.json":          `{"id": "BOMB", "modified": "2025-01-01T00:00:00Z", "details": "` + strings.Repeat("A", MaxRecordSize) + `"}`,
	})
	feed, err := ReadOSV(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Advisories) != 2 {
		t.Errorf("%d advisories, want 2", len(feed.Advisories))
	}
	reasons := map[string]string{}
	for _, r := range feed.Rejected {
		reasons[r.Record] = r.Reason
	}
	if !strings.Contains(reasons["../escape.json"], "unsafe path") {
		t.Errorf("../escape.json: reason %q, want unsafe path", reasons["../escape.json"])
	}
	if !strings.Contains(reasons["bomb.json"], "larger than") {
		t.Errorf("bomb.json: reason %q, want a size limit", reasons["bomb.json"])
	}
}

func TestReadOSVHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadOSV(ctx, "testdata/osv/almalinux"); err == nil {
		t.Fatal("ReadOSV with a cancelled context succeeded")
	}
}

func TestParseOSVRejectsOversizedRecord(t *testing.T) {
	r := strings.NewReader(`{"id": "BIG", "details": "` + strings.Repeat("x", MaxRecordSize) + `"}`)
	if _, err := ParseOSV(r, "big.json"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestParseEcosystem(t *testing.T) {
	tests := []struct {
		in   string
		want Distro
		ok   bool
	}{
		{"Ubuntu:22.04:LTS", Distro{"ubuntu", "22.04", "LTS", version.Dpkg}, true},
		{"Ubuntu:Pro:18.04:LTS", Distro{"ubuntu", "18.04", "Pro", version.Dpkg}, true},
		{"Ubuntu:Pro:FIPS-updates:22.04:LTS", Distro{"ubuntu", "22.04", "Pro:FIPS-updates", version.Dpkg}, true},
		{"Ubuntu:24.10", Distro{"ubuntu", "24.10", "", version.Dpkg}, true},
		{"Debian:12", Distro{"debian", "12", "", version.Dpkg}, true},
		{"AlmaLinux:9", Distro{"almalinux", "9", "", version.RPM}, true},
		{"Rocky Linux:9", Distro{"rocky", "9", "", version.RPM}, true},
		{"Red Hat:enterprise_linux:9::appstream", Distro{"rhel", "9", "", version.RPM}, true},
		{"Alpine:v3.19", Distro{"alpine", "3.19", "", version.Apk}, true},
		{"Alpine:3.19", Distro{}, false},
		{"Ubuntu", Distro{}, false},
		{"Ubuntu:LTS", Distro{}, false},
		{"Debian", Distro{}, false},
		{"PyPI", Distro{}, false},
		{"AlmaLinux:9:x", Distro{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseEcosystem(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseEcosystem(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseOSV(f *testing.F) {
	for _, dir := range []string{"testdata/osv/ubuntu", "testdata/osv/almalinux/almalinux9"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries[:min(5, len(entries))] {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"X","modified":"2025-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"last_affected":"1.2-r0"},{"limit":"2"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		adv, err := ParseOSV(strings.NewReader(string(data)), "fuzz.json")
		if err != nil {
			return
		}
		// The package invariant: every stored version is valid, so
		// IsAffected fails only for an invalid query.
		for _, a := range adv.Affected {
			for _, v := range append(slices.Clone(a.Versions), "1.0", "0:1.0-1") {
				if !version.Valid(a.Distro.Format, v) {
					continue
				}
				if _, _, err := a.IsAffected(v); err != nil {
					t.Fatalf("IsAffected(%q) on an accepted record: %v", v, err)
				}
			}
		}
	})
}

func BenchmarkReadOSVAlmaLinux(b *testing.B) {
	const dir = "../../../shared/data/osv/almalinux"
	if _, err := os.Stat(dir); err != nil {
		testenv.SkipOrFail(b, "full AlmaLinux feed not present at %s: %v", dir, err)
	}
	for b.Loop() {
		feed, err := ReadOSV(context.Background(), dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(feed.Rejected) != 0 {
			b.Fatalf("rejected %d records: %v", len(feed.Rejected), feed.Rejected[:min(3, len(feed.Rejected))])
		}
		// 5,680 files; 43 are identical copies of a record shared by
		// AlmaLinux 8, 9 and 10.
		if len(feed.Advisories) != 5680-43 || feed.Duplicates != 43 {
			b.Fatalf("%d advisories, %d duplicates; want 5637, 43", len(feed.Advisories), feed.Duplicates)
		}
		b.ReportMetric(float64(len(feed.Advisories)), "records")
	}
}
