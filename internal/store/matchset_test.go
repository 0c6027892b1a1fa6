package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/version"
)

// TestSetBasedMatchingEqualsPerHostReconcile drives two databases through
// the same seeded random sequence of check-ins, advisory changes and KEV
// changes. In the first, a feed change reconciles every host carrying the
// packages it names, one host at a time (ReconcileFindings, the oracle);
// in the second, the tuples of those packages are matched again and the
// findings of all their hosts follow set-based (ApplyTupleMatches). After
// every step both hold exactly the same findings, with the same history.
func TestSetBasedMatchingEqualsPerHostReconcile(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			for _, seed := range []uint64{1, 2, 3} {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					oracle, _ := open(t)
					set, _ := open(t)
					runMatchSequence(t, seed, oracle, set)
				})
			}
		})
	}
}

// world is one database with its in-memory index.
type world struct {
	db *DB
	ix *match.Index
}

type simHost struct {
	id               string
	os               inventory.OS
	format           inventory.Format
	distro, release  string
	names            []string // package names the host may carry
	archs            []string
	versions         []string
	sourceOf         map[string]string
	labelCriticality string
}

var (
	ubuntuNames = []string{"bash", "libc6", "libc-bin", "openssl", "libssl3", "curl"}
	ubuntuSrc   = map[string]string{"libc6": "glibc", "libc-bin": "glibc", "libssl3": "openssl"}
	ubuntuVers  = []string{"1.0-1", "1.0-2", "1.0-3", "1.1-1", "2.0-1"}
	almaNames   = []string{"bash", "openssl", "openssl-libs", "curl"}
	almaSrc     = map[string]string{"openssl-libs": "openssl"}
	almaVers    = []string{"1.0-1.el9", "1.0-2.el9", "1.0-3.el9", "1.1-1.el9", "2.0-1.el9"}
	advPackages = map[string][]string{
		"ubuntu":    {"bash", "glibc", "openssl", "curl", "libc6"},
		"almalinux": {"bash", "openssl", "openssl-libs", "curl"},
	}
)

func simHosts() []simHost {
	var hs []simHost
	for i := range 6 {
		hs = append(hs, simHost{id: fmt.Sprintf("u%d", i), os: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, format: inventory.FormatDpkg,
			distro: "ubuntu", release: "22.04", names: ubuntuNames, archs: []string{"amd64", "i386"}, versions: ubuntuVers, sourceOf: ubuntuSrc,
			labelCriticality: fmt.Sprint(1 + i%5)})
	}
	for i, v := range []string{"9.4", "9.2", "9.4", "8.9"} {
		distro, release, _ := match.Release("almalinux", v)
		hs = append(hs, simHost{id: fmt.Sprintf("a%d", i), os: inventory.OS{ID: "almalinux", VersionID: v}, format: inventory.FormatRPM,
			distro: distro, release: release, names: almaNames, archs: []string{"x86_64"}, versions: almaVers, sourceOf: almaSrc,
			labelCriticality: fmt.Sprint(5 - i%5)})
	}
	return hs
}

// simScore stands in for the server's scoring: any deterministic function
// of the inputs does, as long as both worlds use it.
func simScore(in ScoreInput) Score {
	p := float64(len(in.CVSS)) + 3*in.EPSS
	if in.KEV {
		p += 10
	}
	if in.FixAvailable {
		p++
	}
	if in.HostLabels["criticality"] == "5" {
		p += 2
	}
	due := in.FirstSeenAt.Add(24 * time.Hour)
	if in.KEVDue != nil {
		due = *in.KEVDue
	}
	return Score{Severity: in.Severity, Priority: p, SSVC: "Track", Reasons: []string{in.AdvisoryID, fmt.Sprint(in.KEV)}, KEV: in.KEV,
		DueAt: &due, DueReason: "sim"}
}

func fixAvailableFor(distro string) func(update, fixed string) bool {
	eco := version.Dpkg
	if distro == "almalinux" {
		eco = version.RPM
	}
	return func(update, fixed string) bool {
		c, err := version.Compare(eco, update, fixed)
		return err == nil && c >= 0
	}
}

func runMatchSequence(t *testing.T, seed uint64, oracleDB, setDB *DB) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 14))
	worlds := []*world{{db: oracleDB, ix: match.NewIndex()}, {db: setDB, ix: match.NewIndex()}}
	hosts := simHosts()
	for _, w := range worlds {
		enrollToken(t, w.db, "tk", 0, t0.Add(time.Hour), nil)
		for _, h := range hosts {
			enrollHost(t, w.db, newHost(h.id, "host-"+h.id))
			if err := w.db.SetHostUserLabels(ctx, h.id, map[string]string{"criticality": h.labelCriticality}); err != nil {
				t.Fatal(err)
			}
		}
	}
	advs := map[string]advisory.Advisory{}
	var kev []KEV
	now := t0
	for step := range 70 {
		now = now.Add(time.Minute)
		switch r := rng.IntN(10); {
		case r < 5: // a check-in, reconciled per host in both worlds
			h := hosts[rng.IntN(len(hosts))]
			c := randomCheckin(rng, h)
			for _, w := range worlds {
				if _, err := w.db.ApplyCheckin(ctx, h.id, c, now); err != nil {
					t.Fatalf("step %d: check-in %s: %v", step, h.id, err)
				}
				reconcileHost(t, ctx, w, h, now)
			}
		case r < 9: // new, changed or withdrawn advisories
			var changed []advisory.Advisory
			for range 1 + rng.IntN(2) {
				a := randomAdvisory(rng, advs, now)
				advs[a.ID] = a
				changed = append(changed, a)
			}
			changedIDs := importAdvisories(t, ctx, worlds, changed, now)
			byID := map[string]advisory.Advisory{}
			for _, a := range changed {
				byID[a.ID] = a
			}
			var put []advisory.Advisory
			for _, id := range changedIDs {
				put = append(put, byID[id])
			}
			// The oracle: every host carrying the keys, reconciled alone.
			o := worlds[0]
			keys := o.ix.Put(put...)
			ids, err := o.db.InvalidateMatches(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(ids)
			for _, id := range ids {
				reconcileHost(t, ctx, o, hostByID(hosts, id), now)
			}
			// The set-based path.
			s := worlds[1]
			keys = s.ix.Keys(put...)
			s.ix.Put(put...)
			applyKeysSetBased(t, ctx, s, keys, now)
			if _, err := s.db.RescoreAdvisories(ctx, changedIDs, simScore); err != nil {
				t.Fatal(err)
			}
		default: // the KEV catalog gains or loses a CVE
			cve := fmt.Sprintf("CVE-2026-%04d", rng.IntN(8))
			i := slices.IndexFunc(kev, func(k KEV) bool { return k.CVE == cve })
			if i >= 0 {
				kev = slices.Delete(kev, i, i+1)
			} else {
				kev = append(kev, KEV{CVE: cve, Vendor: "v", Product: "p", Name: "n", DateAdded: now, DueDate: now.Add(72 * time.Hour)})
			}
			var changedCVEs []string
			for wi, w := range worlds {
				in := FeedImport{Status: FeedStatus{Name: "cisa-kev", Kind: "kev"}, KEV: slices.Clone(kev), Replace: true}
				if in.KEV == nil {
					in.KEV = []KEV{}
				}
				in.Job = func(_, cves []string) (FeedJob, bool) {
					if wi == 1 {
						changedCVEs = cves
					}
					return FeedJob{}, false
				}
				if _, err := w.db.ImportFeed(ctx, in, now); err != nil {
					t.Fatalf("step %d: KEV import: %v", step, err)
				}
			}
			if _, err := worlds[0].db.Rescore(ctx, "", simScore); err != nil {
				t.Fatal(err)
			}
			if slices.Compare(changedCVEs, []string{cve}) != 0 {
				t.Fatalf("step %d: KEV import reported changed CVEs %v, want [%s]", step, changedCVEs, cve)
			}
			if _, err := worlds[1].db.RescoreCVEs(ctx, changedCVEs, simScore); err != nil {
				t.Fatal(err)
			}
		}
		compareWorlds(t, step, worlds[0].db, worlds[1].db)
	}
	// The sequence is worth comparing only if it did something.
	var open, resolved, events int
	if err := setDB.db.QueryRow(`SELECT COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END), 0), (SELECT COUNT(*) FROM finding_events) FROM findings`).Scan(&open, &resolved, &events); err != nil {
		t.Fatal(err)
	}
	if open < 5 || resolved < 5 || events < 20 {
		t.Fatalf("the sequence left %d open and %d resolved findings and %d events: too little to compare", open, resolved, events)
	}
	t.Logf("seed %d: %d open, %d resolved findings, %d history events", seed, open, resolved, events)
}

func hostByID(hs []simHost, id string) simHost {
	for _, h := range hs {
		if h.id == id {
			return h
		}
	}
	panic("no host " + id)
}

func randomCheckin(rng *rand.Rand, h simHost) Checkin {
	var pkgs []inventory.Package
	var ups []Update
	for _, n := range h.names {
		for _, arch := range h.archs {
			if rng.IntN(10) < 4 {
				continue
			}
			p := inventory.Package{Name: n, Version: h.versions[rng.IntN(len(h.versions))], Arch: arch, Source: h.sourceOf[n]}
			pkgs = append(pkgs, p)
			if rng.IntN(10) < 5 {
				ua := arch
				if rng.IntN(3) == 0 {
					ua = ""
				}
				ups = append(ups, Update{Name: n, Arch: ua, Version: h.versions[rng.IntN(len(h.versions))], Repo: "main"})
			}
		}
	}
	facts := inventory.Facts{Hostname: "host-" + h.id, OS: h.os, PackageFormat: h.format, Arch: "x86_64"}
	return Checkin{Facts: facts, Full: true, Packages: pkgs, Updates: ups, UpdatesChanged: true}
}

func randomAdvisory(rng *rand.Rand, advs map[string]advisory.Advisory, now time.Time) advisory.Advisory {
	id := fmt.Sprintf("ADV-%d", rng.IntN(8))
	a := advisory.Advisory{ID: id, Source: advisory.SourceOSV, Summary: "summary of " + id, Published: t0, Modified: now,
		CVEs: []string{fmt.Sprintf("CVE-2026-%04d", rng.IntN(8))}, SeverityWord: []string{"critical", "high", "medium", "low", ""}[rng.IntN(5)]}
	if rng.IntN(2) == 0 {
		a.Severity = []advisory.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}
	}
	if _, ok := advs[id]; ok && rng.IntN(6) == 0 {
		w := now
		a.Withdrawn = &w
		return a
	}
	for range 1 + rng.IntN(3) {
		distro, release, eco, vers := "ubuntu", "22.04", version.Dpkg, ubuntuVers
		if rng.IntN(2) == 0 {
			distro, release, eco, vers = "almalinux", "9", version.RPM, almaVers
			if rng.IntN(4) == 0 {
				release = "8"
			}
		}
		pkgs := advPackages[distro]
		events := []advisory.Event{{Introduced: "0"}}
		if rng.IntN(5) > 0 {
			events = append(events, advisory.Event{Fixed: vers[rng.IntN(len(vers))]})
		}
		a.Affected = append(a.Affected, advisory.Affected{Ecosystem: distro + ":" + release,
			Distro: advisory.Distro{ID: distro, Release: release, Format: eco}, Package: pkgs[rng.IntN(len(pkgs))],
			Ranges: []advisory.Range{{Type: advisory.RangeEcosystem, Events: events}}})
	}
	return a
}

// importAdvisories stores advisories in both worlds and returns the IDs
// the import reports changed (the same in both).
func importAdvisories(t *testing.T, ctx context.Context, worlds []*world, advs []advisory.Advisory, now time.Time) []string {
	t.Helper()
	var rows []Advisory
	for _, a := range advs {
		data, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, Advisory{ID: a.ID, Source: a.Source, Published: a.Published, Modified: a.Modified, Withdrawn: a.Withdrawn,
			Severity: a.SeverityWord, Summary: a.Summary, CVEs: a.CVEs, Data: data})
		for _, s := range a.Severity {
			rows[len(rows)-1].CVSS = append(rows[len(rows)-1].CVSS, s.Score)
		}
	}
	var out [][]string
	for _, w := range worlds {
		changed, err := w.db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "osv-sim", Kind: "osv"}, Advisories: rows}, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, changed)
	}
	if slices.Compare(out[0], out[1]) != 0 {
		t.Fatalf("the worlds disagree on what changed: %v and %v", out[0], out[1])
	}
	return out[0]
}

// reconcileHost is the server's per-host reconcile: match the host's
// unmatched tuples, reconcile its findings, rescore them.
func reconcileHost(t *testing.T, ctx context.Context, w *world, h simHost, now time.Time) {
	t.Helper()
	ts, err := w.db.UnmatchedTuples(ctx, h.id, h.distro, h.release)
	if err != nil {
		t.Fatal(err)
	}
	res := map[int64][]match.Match{}
	for _, tu := range ts {
		res[tu.PVID], _ = w.ix.Match(tu.Tuple)
	}
	if err := w.db.SaveMatches(ctx, h.distro, h.release, res); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.ReconcileFindings(ctx, h.id, h.distro, h.release, fixAvailableFor(h.distro), now); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Rescore(ctx, h.id, simScore); err != nil {
		t.Fatal(err)
	}
}

// applyKeysSetBased is the server's matchKeys at store level.
func applyKeysSetBased(t *testing.T, ctx context.Context, w *world, keys []match.Key, now time.Time) {
	t.Helper()
	type rel struct{ distro, release string }
	byRel := map[rel][]TupleMatches{}
	seen := map[rel]map[int64]bool{}
	var order []rel
	for _, k := range keys {
		r := rel{k.Distro, k.Release}
		if seen[r] == nil {
			seen[r] = map[int64]bool{}
			order = append(order, r)
		}
		ts, err := w.db.KeyTuples(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, tu := range ts {
			if seen[r][tu.PVID] {
				continue
			}
			seen[r][tu.PVID] = true
			ms, _ := w.ix.Match(tu.Tuple)
			byRel[r] = append(byRel[r], TupleMatches{PVTuple: tu, Matches: ms})
		}
	}
	for _, r := range order {
		applied, err := w.db.ApplyTupleMatches(ctx, r.distro, r.release, byRel[r], fixAvailableFor(r.distro), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.db.RescoreFindings(ctx, applied.Findings, simScore); err != nil {
			t.Fatal(err)
		}
	}
}

// compareWorlds fails when the findings or their histories differ,
// finding IDs aside (each world draws its own).
func compareWorlds(t *testing.T, step int, a, b *DB) {
	t.Helper()
	const findings = `SELECT host_id, name, arch, advisory_id, installed_version, fixed_version, fix_available, status, first_seen_at,
		resolved_at, resolution, reopened, severity, priority, ssvc, reasons, kev, due_at, due_reason, exception_id
		FROM findings ORDER BY host_id, name, arch, advisory_id`
	const history = `SELECT f.host_id, f.name, f.arch, f.advisory_id, e.at, e.kind, e.detail
		FROM finding_events e JOIN findings f ON f.id = e.finding_id ORDER BY f.host_id, f.name, f.arch, f.advisory_id, e.at, e.kind, e.detail`
	const matches = `SELECT m.distro, m.release, pv.name, pv.version, pv.arch, m.advisory_id, m.fixed FROM pv_matches m
		JOIN package_versions pv ON pv.id = m.pv_id ORDER BY 1, 2, 3, 4, 5, 6`
	for _, q := range []string{findings, history, matches} {
		ra, rb := dump(t, a, q), dump(t, b, q)
		if slices.Equal(ra, rb) {
			continue
		}
		var diff []string
		for _, r := range ra {
			if !slices.Contains(rb, r) {
				diff = append(diff, "- per-host: "+r)
			}
		}
		for _, r := range rb {
			if !slices.Contains(ra, r) {
				diff = append(diff, "+ set-based: "+r)
			}
		}
		t.Fatalf("step %d: the worlds differ (%d rows per host, %d set-based) for\n%s\n%s", step, len(ra), len(rb), q, strings.Join(diff, "\n"))
	}
}
