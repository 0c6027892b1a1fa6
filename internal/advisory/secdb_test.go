package advisory

import (
	"os"
	"strings"
	"testing"
)

func readSecDB(t *testing.T, path string) Feed {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	feed, err := ReadAlpineSecDB(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return feed
}

func TestReadAlpineSecDB(t *testing.T) {
	feed := readSecDB(t, "testdata/secdb/v3.11/main.json")
	// 1,180 distinct (package, ID) pairs in 175 packages (counted from the
	// file with a script); 20 listings repeat an ID of the same package
	// under another fixed version and are reported.
	if len(feed.Advisories) != 1180 || len(feed.Rejected) != 20 {
		t.Fatalf("%d advisories, %d rejected; want 1180, 20", len(feed.Advisories), len(feed.Rejected))
	}
	for _, r := range feed.Rejected {
		if r.Record == "wpa_supplicant 2.6-r7" && strings.HasPrefix(r.Reason, "CVE-2017-13077 is also listed as fixed in 2.7-r0") {
			return
		}
	}
	t.Errorf("no rejection for wpa_supplicant CVE-2017-13077 fixed in both 2.6-r7 and 2.7-r0: %v", feed.Rejected)
	var curl *Advisory
	for i, a := range feed.Advisories {
		if a.ID == "ALPINE-v3.11-curl-CVE-2019-5481" {
			curl = &feed.Advisories[i]
		}
	}
	if curl == nil {
		t.Fatal("no advisory for curl CVE-2019-5481")
	}
	a := curl.Affected[0]
	if a.Ecosystem != "Alpine:v3.11" || a.Distro.ID != "alpine" || a.Distro.Release != "3.11" || a.Package != "curl" {
		t.Errorf("affected = %+v", a)
	}
	if fixed := a.FixedVersions(); len(fixed) != 1 || fixed[0] != "7.66.0-r0" {
		t.Errorf("fixed = %v, want [7.66.0-r0]", fixed)
	}
	if len(curl.CVEs) != 1 || curl.CVEs[0] != "CVE-2019-5481" || curl.Source != SourceAlpineSecDB {
		t.Errorf("CVEs, Source = %v, %q", curl.CVEs, curl.Source)
	}
	if ok, fixed, err := a.IsAffected("7.65.3-r0"); err != nil || !ok || fixed != "7.66.0-r0" {
		t.Errorf("IsAffected(7.65.3-r0) = %v, %q, %v", ok, fixed, err)
	}
}

func TestReadAlpineSecDBSkipsNotAffectedAndReportsRepeats(t *testing.T) {
	feed := readSecDB(t, "testdata/secdb/v3.8/main.json")
	// 1,125 distinct (package, ID) pairs outside "0" entries; 8 listings
	// repeat an ID under another fixed version (one more, sdl's, repeats
	// it under the same version and is one fact).
	if len(feed.Advisories) != 1125 || len(feed.Rejected) != 8 {
		t.Fatalf("%d advisories, %d rejected; want 1125, 8", len(feed.Advisories), len(feed.Rejected))
	}
	for _, a := range feed.Advisories {
		if a.Affected[0].Package == "db" {
			t.Errorf("%s: db's secfixes are all under \"0\" (not affected)", a.ID)
		}
		if strings.Contains(a.ID, " ") {
			t.Errorf("ID %q contains the note after the CVE", a.ID)
		}
	}
	for _, r := range feed.Rejected {
		if !strings.Contains(r.Reason, "keeping the higher version") {
			t.Errorf("rejection %+v", r)
		}
	}
}

func TestReadAlpineSecDBRejectsBadEntries(t *testing.T) {
	doc := `{"distroversion": "v3.11", "packages": [
		{"pkg": {"name": "", "secfixes": {"1.0-r0": ["CVE-2020-0001"]}}},
		{"pkg": {"name": "ok", "secfixes": {"1.0-r0": ["CVE-2020-0002 (note)", "CVE_2020-0003"], "2.0-r0": "not a list", "é": ["CVE-2020-0004"]}}}
	]}`
	feed, err := ReadAlpineSecDB(strings.NewReader(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range feed.Advisories {
		ids = append(ids, a.ID+"="+a.Aliases[0])
	}
	if strings.Join(ids, " ") != "ALPINE-v3.11-ok-CVE-2020-0002=CVE-2020-0002 ALPINE-v3.11-ok-CVE_2020-0003=CVE-2020-0003" {
		t.Errorf("advisories %v", ids)
	}
	if len(feed.Rejected) != 3 {
		t.Errorf("rejected %v, want 3 (empty name, not a list, non-ASCII version)", feed.Rejected)
	}
	if _, err := ReadAlpineSecDB(strings.NewReader(`{"distroversion": "edge"}`), "x"); err == nil {
		t.Error("a distroversion that is not a release was accepted")
	}
}

func FuzzReadAlpineSecDB(f *testing.F) {
	b, err := os.ReadFile("testdata/secdb/v3.8/main.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:4096])
	f.Add([]byte(`{"distroversion":"v3.11","packages":[{"pkg":{"name":"a","secfixes":{"1.0-r0":["CVE-2020-1"],"0":["CVE-2"]}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := ReadAlpineSecDB(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			return
		}
		for _, a := range feed.Advisories {
			for _, fixed := range a.Affected[0].FixedVersions() {
				if _, _, err := a.Affected[0].IsAffected(fixed); err != nil {
					t.Fatalf("%s: IsAffected(%q): %v", a.ID, fixed, err)
				}
			}
		}
	})
}

// v3.3/community.json of the real secdb has "packages": "" (an empty YAML
// list converted to a string): no advisories, no error.
func TestSecDBEmptyPackagesString(t *testing.T) {
	f, err := ReadAlpineSecDB(strings.NewReader(`{"distroversion":"v3.3","reponame":"community","packages":""}`), "community.json")
	if err != nil || len(f.Advisories) != 0 || len(f.Rejected) != 0 {
		t.Fatalf("empty secdb: %v, %d advisories, %v", err, len(f.Advisories), f.Rejected)
	}
}
