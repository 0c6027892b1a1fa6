package match_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
)

// readOSVDir reads every OSV record below dir and fails on any rejection:
// the test data is real and must be read whole.
func readOSVDir(tb testing.TB, dir string) []advisory.Advisory {
	tb.Helper()
	feed, err := advisory.ReadOSV(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(feed.Rejected) > 0 {
		tb.Fatalf("%s: rejected records: %v", dir, feed.Rejected)
	}
	return feed.Advisories
}

// readSecDB reads one Alpine secdb JSON document.
func readSecDB(tb testing.TB, path string) advisory.Feed {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	feed, err := advisory.ReadAlpineSecDB(f, path)
	if err != nil {
		tb.Fatal(err)
	}
	return feed
}

func indexOf(advs ...[]advisory.Advisory) *match.Index {
	ix := match.NewIndex()
	for _, a := range advs {
		ix.Put(a...)
	}
	return ix
}

// osvScannerList is one entry of osv-scanner-image-os-packages.json: the OS
// packages osv-scanner extracted from one image, under source names.
type osvScannerList struct {
	Tests    []string `json:"tests"`
	Packages []struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		Version   string `json:"version"`
	} `json:"packages"`
}

func readOSVScannerLists(tb testing.TB, path string) []osvScannerList {
	tb.Helper()
	var lists []osvScannerList
	readJSON(tb, path, &lists)
	return lists
}

// trivyPackage is one package of a trivy golden package list.
type trivyPackage struct {
	Name       string
	Version    string
	Release    string
	Epoch      int
	SrcName    string
	SrcVersion string
	SrcRelease string
	SrcEpoch   int
}

func readTrivyList(tb testing.TB, path string) []trivyPackage {
	tb.Helper()
	var pkgs []trivyPackage
	readJSON(tb, path, &pkgs)
	if len(pkgs) == 0 {
		tb.Fatalf("%s: no packages", path)
	}
	return pkgs
}

func readJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// evr joins trivy's split version fields the way the package database
// writes them: "[epoch:]version[-release]". Trivy's dpkg lists already carry
// the epoch inside Version ("1:4.5-1ubuntu2") and leave Release empty.
func evr(epoch int, ver, rel string) string {
	s := ver
	if epoch > 0 && !strings.Contains(ver, ":") {
		s = strconv.Itoa(epoch) + ":" + s
	}
	if rel != "" {
		s += "-" + rel
	}
	return s
}

// trivyTuples turns a trivy list into tuples of one release: binary name and
// version, and the source package when it differs.
func trivyTuples(pkgs []trivyPackage, distro, release string) []match.Tuple {
	var out []match.Tuple
	for _, p := range pkgs {
		t := match.Tuple{Distro: distro, Release: release, Name: p.Name, Version: evr(p.Epoch, p.Version, p.Release)}
		if p.SrcName != "" && p.SrcName != p.Name {
			t.Source = p.SrcName
		}
		if p.SrcVersion != "" {
			if sv := evr(p.SrcEpoch, p.SrcVersion, p.SrcRelease); sv != t.Version {
				t.SourceVersion = sv
			}
		}
		out = append(out, t)
	}
	return out
}

// apkTuples reads an apk installed database with the inventory parser.
func apkTuples(tb testing.TB, path, release string) ([]match.Tuple, []string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	pkgs, problems, err := inventory.ParseApkInstalled(f, filepath.Base(path))
	if err != nil {
		tb.Fatal(err)
	}
	return packageTuples(pkgs, "alpine", release), problems
}

func packageTuples(pkgs []inventory.Package, distro, release string) []match.Tuple {
	out := make([]match.Tuple, 0, len(pkgs))
	for _, p := range pkgs {
		t := match.Tuple{Distro: distro, Release: release, Name: p.Name, Version: p.Version, SourceVersion: p.SourceVersion}
		if p.Source != p.Name {
			t.Source = p.Source
		}
		out = append(out, t)
	}
	return out
}

// finding is one expected or actual match of one installed package, written
// compactly for readable failure messages.
type finding struct {
	Package, Version string
	Advisory, Fixed  string
	Via              string
}

func (f finding) String() string {
	return fmt.Sprintf("%s %s: %s fixed=%q via %s", f.Package, f.Version, f.Advisory, f.Fixed, f.Via)
}

// matchAll matches every tuple and returns the findings in tuple order,
// failing on any version the ordering cannot read.
func matchAll(tb testing.TB, ix *match.Index, tuples []match.Tuple) []finding {
	tb.Helper()
	var out []finding
	for _, t := range tuples {
		ms, errs := ix.Match(t)
		for _, err := range errs {
			tb.Errorf("match %s %s: %v", t.Name, t.Version, err)
		}
		for _, m := range ms {
			out = append(out, finding{t.Name, t.Version, m.AdvisoryID, m.Fixed, m.Via})
		}
	}
	return out
}

// sameFindings compares findings as sets, reporting what is missing and what
// is unexpected.
func sameFindings(t *testing.T, got, want []finding) {
	t.Helper()
	seen := map[finding]int{}
	for _, f := range got {
		seen[f]++
	}
	for _, f := range want {
		if seen[f] == 0 {
			t.Errorf("missing   %v", f)
			continue
		}
		seen[f]--
	}
	for _, f := range got {
		if seen[f] > 0 {
			t.Errorf("unexpected %v", f)
			seen[f]--
		}
	}
}

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"testdata"}, parts...)...)
}
