package match_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/testenv"
)

// The fleet benchmarks match 10,000 simulated hosts, built from the real
// package sets in shared/data with a deterministic version spread, against
// the full AlmaLinux OSV feed and every Alpine secdb document there. Run:
//
//	go test -run XXX -bench . -benchtime 3x ./internal/match/
//
// They are skipped when shared/data cannot be found.

const (
	fleetHosts    = 10_000
	fleetSeed     = 2026
	spreadPercent = 40 // share of each host's packages moved to a variant version
	// spreadSteps bounds how far a moved package goes: up to this many
	// releases up, or one down. A real fleet's hosts patch at different
	// times from repositories at different points, so most packages sit
	// on a handful of versions and a long tail spreads wide: the fleet
	// holds over 100,000 distinct package versions.
	spreadSteps = 250
)

// sharedData finds shared/data: /work/shared/data, or by walking up from
// the package directory.
func sharedData(b *testing.B) string {
	b.Helper()
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if fi, err := os.Stat("/work/shared/data"); err == nil && fi.IsDir() {
		return "/work/shared/data"
	}
	testenv.SkipOrFail(b, "shared/data not found; the fleet benchmarks need the real feeds and package lists")
	return ""
}

// baseList is one real package set as a host of one feed release.
type baseList struct {
	name   string
	tuples []match.Tuple
}

// fleet is the simulated fleet: distinct tuples, and each host as indices
// into them.
type fleet struct {
	lists    []baseList
	tuples   []match.Tuple
	tupleIdx map[match.Tuple]int32
	hosts    [][]int32
}

type fixture struct {
	advisories []advisory.Advisory // AlmaLinux OSV + Alpine secdb
	fleet      fleet
	loadTime   time.Duration
	skipped    []string // feed documents that could not be read
}

// The fixture takes seconds to read, so the benchmarks share one.
var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	data := sharedData(b)
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = buildFixture(data) })
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixtureVal
}

func buildFixture(data string) (*fixture, error) {
	start := time.Now()
	feed, err := advisory.ReadOSV(context.Background(), filepath.Join(data, "osv", "almalinux"))
	if err != nil {
		return nil, err
	}
	advs := feed.Advisories
	secdbs, err := filepath.Glob(filepath.Join(data, "secdb", "alpine", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	var skipped []string
	for _, p := range secdbs {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sf, err := advisory.ReadAlpineSecDB(f, p)
		f.Close()
		if err != nil {
			// v3.3/community.json has "packages": "" (an empty YAML
			// list converted to a string): no advisories to lose.
			skipped = append(skipped, err.Error())
			continue
		}
		advs = append(advs, sf.Advisories...)
	}
	lists, err := readBaseLists(data)
	if err != nil {
		return nil, err
	}
	return &fixture{advisories: advs, fleet: buildFleet(lists, fleetHosts, fleetSeed), loadTime: time.Since(start), skipped: skipped}, nil
}

// listRelease says which release each package list is matched as. The
// rpm-based images are mapped to an AlmaLinux release so that their packages
// meet the AlmaLinux feed: EL6/EL7/EL8-era and Amazon Linux 2 to 8, the
// newer Fedora 35 (the base of EL9), openSUSE and Photon to 9. "distro
// release" names another distribution. apk databases are matched as the
// release their musl version shows, or as 3.11, the newest secdb here,
// when theirs has none.
var listRelease = map[string]string{
	"trivy-amazon-2.json":           "8",
	"trivy-centos-6.json":           "8",
	"trivy-ubi-7.json":              "8",
	"trivy-oraclelinux-8-slim.json": "8",
	"trivy-fedora-35.json":          "9",
	"trivy-opensuse-leap-151.json":  "9",
	"trivy-photon-30.json":          "9",
	"trivy-alpine-310.json":         "alpine 3.10",
	"trivy-debian-buster.json":      "debian 10",
	"trivy-ubuntu-18.04.json":       "ubuntu 18.04",
	"osv-scalibr-installed":         "3.11", // musl 1.2.4: Alpine 3.18, newest secdb here is 3.11
	"syft-multiple-2.installed":     "3.11", // musl 1.2.3: Alpine 3.16
	"trivy-apk.installed":           "3.4",  // musl 1.1.14: Alpine 3.4
}

// alpineSecDBReleases are the releases with a secdb in shared/data.
var alpineSecDBReleases = []string{"3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11"}

func readBaseLists(data string) ([]baseList, error) {
	dir := filepath.Join(data, "inventories", "package-lists")
	var lists []baseList
	trivy, err := filepath.Glob(filepath.Join(dir, "trivy-*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range trivy {
		name := filepath.Base(p)
		var pkgs []trivyPackage
		if err := readJSONFile(p, &pkgs); err != nil {
			return nil, err
		}
		distro, release := "almalinux", listRelease[name]
		if d, r, ok := strings.Cut(release, " "); ok {
			distro, release = d, r
		}
		if release == "" {
			return nil, errors.New(name + ": no release mapping")
		}
		lists = append(lists, baseList{name, trivyTuples(pkgs, distro, release)})
	}

	var scanner []osvScannerList
	if err := readJSONFile(filepath.Join(dir, "osv-scanner-image-os-packages.json"), &scanner); err != nil {
		return nil, err
	}
	for i, l := range scanner {
		bl := baseList{name: "osv-scanner " + strconv.Itoa(i) + " " + l.Tests[0]}
		for _, p := range l.Packages {
			distro, release := osvScannerRelease(p.Ecosystem)
			bl.tuples = append(bl.tuples, match.Tuple{Distro: distro, Release: release, Name: p.Name, Version: p.Version})
		}
		lists = append(lists, bl)
	}

	apks, err := filepath.Glob(filepath.Join(data, "inventories", "apk", "*"))
	if err != nil {
		return nil, err
	}
	for _, p := range apks {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		pkgs, _, err := inventory.ParseApkInstalled(f, p)
		f.Close()
		if err != nil {
			return nil, err
		}
		lists = append(lists, baseList{filepath.Base(p), packageTuples(pkgs, "alpine", listRelease[filepath.Base(p)])})
	}
	return lists, nil
}

// osvScannerRelease maps an osv-scanner ecosystem to the release its host is
// matched as: Alpine releases with a secdb as themselves, newer Alpine as
// 3.11 (the newest secdb here), openSUSE as AlmaLinux 9, Ubuntu and Debian
// as themselves (no feed for them is loaded: their lookups find nothing).
func osvScannerRelease(eco string) (string, string) {
	if d, ok := advisory.ParseEcosystem(eco); ok {
		if d.ID == "alpine" && !slices.Contains(alpineSecDBReleases, d.Release) {
			return "alpine", "3.11"
		}
		return d.ID, d.Release
	}
	if strings.HasPrefix(eco, "openSUSE") {
		return "almalinux", "9"
	}
	return strings.ToLower(eco), ""
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// variant returns version v moved by step: the first number of the release
// part (after the last '-') or, without one, the last number of v, plus
// step (step > 0) or minus one (step < 0, or plus one from 0). The result
// stays valid in dpkg, rpm and apk ordering.
func variant(v string, step int) string {
	start, end := -1, -1
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		for j := i + 1; j < len(v); j++ {
			if isDigit(v[j]) {
				start = j
				break
			}
		}
		if start >= 0 {
			end = start
			for end < len(v) && isDigit(v[end]) {
				end++
			}
		}
	}
	if start < 0 {
		for j := len(v) - 1; j >= 0; j-- {
			if isDigit(v[j]) {
				end = j + 1
				start = j
				for start > 0 && isDigit(v[start-1]) {
					start--
				}
				break
			}
		}
	}
	if start < 0 || end-start > 9 {
		return v + ".1"
	}
	n, _ := strconv.Atoi(v[start:end])
	switch {
	case step > 0:
		n += step
	case n > 0:
		n--
	default:
		n++
	}
	return v[:start] + strconv.Itoa(n) + v[end:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// moved returns t with its version (and source version) moved by step.
func moved(t match.Tuple, step int) match.Tuple {
	t.Version = variant(t.Version, step)
	if t.SourceVersion != "" {
		t.SourceVersion = variant(t.SourceVersion, step)
	}
	return t
}

// buildFleet makes n hosts: each takes a base list chosen by the seed and
// moves about spreadPercent of its packages to a variant: one release
// down, or up by a step skewed towards small ones (the square of a uniform
// draw, up to spreadSteps), so distinct tuples number as in a real fleet.
func buildFleet(lists []baseList, n int, seed uint64) fleet {
	fl := fleet{lists: lists, tupleIdx: map[match.Tuple]int32{}}
	for h := range n {
		rng := rand.New(rand.NewPCG(seed, uint64(h)))
		base := lists[rng.IntN(len(lists))]
		host := make([]int32, 0, len(base.tuples))
		for _, t := range base.tuples {
			if rng.IntN(100) < spreadPercent {
				step := -1
				if rng.IntN(4) > 0 {
					u := rng.Float64()
					step = 1 + int(u*u*spreadSteps)
				}
				t = moved(t, step)
			}
			host = append(host, fl.intern(t))
		}
		fl.hosts = append(fl.hosts, host)
	}
	return fl
}

func (fl *fleet) intern(t match.Tuple) int32 {
	if i, ok := fl.tupleIdx[t]; ok {
		return i
	}
	i := int32(len(fl.tuples))
	fl.tuples = append(fl.tuples, t)
	fl.tupleIdx[t] = i
	return i
}

func newIndex(advs []advisory.Advisory) *match.Index {
	ix := match.NewIndex()
	ix.Put(advs...)
	return ix
}

// matchFleet matches every distinct tuple once, then expands the results
// to the hosts and counts findings.
func matchFleet(ix *match.Index, fl fleet) (results [][]match.Match, findings, errs int) {
	results = make([][]match.Match, len(fl.tuples))
	for i, t := range fl.tuples {
		ms, es := ix.Match(t)
		results[i] = ms
		errs += len(es)
	}
	for _, h := range fl.hosts {
		for _, ti := range h {
			findings += len(results[ti])
		}
	}
	return results, findings, errs
}

func BenchmarkIndexBuild(b *testing.B) {
	fx := benchFixture(b)
	b.Logf("fixture: %d advisories, %d base lists, load %v; skipped documents: %v", len(fx.advisories), len(fx.fleet.lists), fx.loadTime, fx.skipped)
	for b.Loop() {
		newIndex(fx.advisories)
	}
	b.ReportMetric(float64(len(fx.advisories)), "advisories")
}

func BenchmarkFleetMatch(b *testing.B) {
	fx := benchFixture(b)
	ix := newIndex(fx.advisories)
	var findings, errs int
	var results [][]match.Match
	for b.Loop() {
		results, findings, errs = matchFleet(ix, fx.fleet)
	}
	b.ReportMetric(float64(len(fx.fleet.hosts)), "hosts")
	b.ReportMetric(float64(len(fx.fleet.tuples)), "tuples")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(errs), "version-errors")
	b.ReportMetric(float64(hostPackages(fx.fleet)), "host-packages")

	// Memory: the index, the fleet and one set of results, with the
	// feed's own slices only where the index still refers to them.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	runtime.KeepAlive(ix)
	runtime.KeepAlive(results)
}

func hostPackages(fl fleet) int {
	n := 0
	for _, h := range fl.hosts {
		n += len(h)
	}
	return n
}

func BenchmarkIndexHeap(b *testing.B) {
	fx := benchFixture(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var ix *match.Index
	for b.Loop() {
		ix = newIndex(fx.advisories)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "index-heap-MiB")
	runtime.KeepAlive(ix)
}

// BenchmarkHostChange: one host reports 5 changed packages; only the tuples
// no other host has are matched, then that host's findings are recounted.
func BenchmarkHostChange(b *testing.B) {
	fx := benchFixture(b)
	ix := newIndex(fx.advisories)
	fl := fx.fleet
	results, _, _ := matchFleet(ix, fl)
	var matched, findings int
	h := 0
	for b.Loop() {
		h = (h + 7919) % len(fl.hosts)
		host := fl.hosts[h]
		changed := make([]match.Tuple, len(host))
		for i, ti := range host {
			changed[i] = fl.tuples[ti]
		}
		for k := range min(5, len(changed)) {
			i := (k * 13) % len(changed)
			changed[i] = moved(changed[i], 5+h%3) // a version no host has
		}
		findings = 0
		for _, t := range changed {
			if ti, ok := fl.tupleIdx[t]; ok {
				findings += len(results[ti])
				continue
			}
			ms, _ := ix.Match(t)
			matched++
			findings += len(ms)
		}
	}
	b.ReportMetric(float64(matched)/float64(b.N), "new-tuples/op")
}
