package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/store"
)

// Fleet describes the fleet to load. Zero fields take the defaults shown.
type Fleet struct {
	Hosts           int // hosts (required)
	PackagesPerHost int // installed packages per host: 100
	// FindingsPerHost is how many findings each host had over the history,
	// open or resolved, each on a different package (at most
	// PackagesPerHost): 20.
	FindingsPerHost int
	// History is the span over which findings were first seen, ending at
	// Now: a year (365 days). Hosts enrolled at its start.
	History time.Duration
	Now     time.Time // the end of the history (required)
	// Resolved is the share of findings resolved (their package upgraded
	// to the fixed version) some time between first seen and Now: 0.5.
	Resolved float64
	// Bases are real package lists (sim.LoadBases of shared/data) that host
	// i takes in turn, padded with derived names to PackagesPerHost; empty:
	// synthetic Debian 12 packages.
	Bases []Base
	Seed  uint64 // the same seed loads the same fleet
	Batch int    // hosts per transaction: 1,000
}

// Base is one package list with the OS it came from.
type Base struct {
	OS       inventory.OS
	Format   inventory.Format
	Packages []inventory.Package
}

// Loaded says what Load wrote.
type Loaded struct {
	HostIDs    []string // "bench-00000" onwards
	Advisories int
	Findings   int
	Open       int // findings still open at Now
}

// Load imports a pool of advisories (with CISA KEV entries for some) and
// writes the fleet into db. Hosts get IDs bench-NNNNN, the criticality
// label 1 to 5 in turn, and each finding a severity, priority, SSVC
// decision and due date from its advisory's severity, as scoring would.
func Load(ctx context.Context, db *store.DB, f Fleet) (Loaded, error) {
	var out Loaded
	if f.Hosts <= 0 || f.Now.IsZero() {
		return out, fmt.Errorf("storetest: Fleet needs Hosts and Now")
	}
	if f.PackagesPerHost <= 0 {
		f.PackagesPerHost = 100
	}
	if f.FindingsPerHost == 0 {
		f.FindingsPerHost = 20
	}
	f.FindingsPerHost = min(f.FindingsPerHost, f.PackagesPerHost)
	if f.History <= 0 {
		f.History = 365 * 24 * time.Hour
	}
	if f.Resolved == 0 {
		f.Resolved = 0.5
	}
	if f.Batch <= 0 {
		f.Batch = 1000
	}
	if len(f.Bases) == 0 {
		f.Bases = []Base{syntheticBase(max(f.PackagesPerHost, 200))}
	}
	start := f.Now.Add(-f.History)

	advs := advisoryPool(max(5*f.FindingsPerHost, 100), start)
	imp := store.FeedImport{Status: store.FeedStatus{Name: "storetest", Kind: "osv"}, KEV: []store.KEV{}}
	for _, a := range advs {
		imp.Advisories = append(imp.Advisories, a.Advisory)
		if a.kev {
			imp.KEV = append(imp.KEV, store.KEV{CVE: a.CVEs[0], Vendor: "storetest", Product: a.ID, Name: a.Summary,
				DateAdded: a.Published, DueDate: a.Published.AddDate(0, 0, 21)})
		}
	}
	if _, err := db.ImportFeed(ctx, imp, start); err != nil {
		return out, fmt.Errorf("storetest: import advisories: %w", err)
	}
	out.Advisories = len(advs)

	batch := make([]store.FleetHost, 0, f.Batch)
	for i := range f.Hosts {
		h := fleetHost(f, i, advs, start)
		for _, fd := range h.Findings {
			out.Findings++
			if fd.ResolvedAt == nil {
				out.Open++
			}
		}
		out.HostIDs = append(out.HostIDs, h.Host.ID)
		batch = append(batch, h)
		if len(batch) == f.Batch || i == f.Hosts-1 {
			if err := db.LoadFleet(ctx, batch); err != nil {
				return out, fmt.Errorf("storetest: load hosts %d..%d: %w", i+1-len(batch), i, err)
			}
			batch = batch[:0]
		}
	}
	return out, nil
}

type advisory struct {
	store.Advisory
	kev bool
}

var severities = []string{"critical", "high", "high", "medium", "medium", "medium", "low", "low"}

// advisoryPool makes n advisories published in the month before start.
func advisoryPool(n int, start time.Time) []advisory {
	out := make([]advisory, n)
	for i := range out {
		sev := severities[i%len(severities)]
		id := fmt.Sprintf("PBX-%04d", i)
		out[i] = advisory{
			Advisory: store.Advisory{ID: id, Source: "osv", Severity: sev, Summary: "storetest advisory " + id,
				CVEs: []string{fmt.Sprintf("CVE-2026-%05d", i)}, Published: start.Add(-time.Duration(i%30) * 24 * time.Hour),
				Data: []byte(`{"id":"` + id + `"}`)},
			kev: sev == "critical" && i%3 == 0,
		}
	}
	return out
}

// syntheticBase is a Debian 12 list of n made-up packages.
func syntheticBase(n int) Base {
	b := Base{OS: inventory.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux"}, Format: inventory.FormatDpkg}
	stems := []string{"lib", "python3-", "golang-", "fonts-", "x11-", "perl-", ""}
	for i := range n {
		name := stems[i%len(stems)] + "pkg" + strconv.Itoa(i)
		b.Packages = append(b.Packages, inventory.Package{Name: name, Version: fmt.Sprintf("%d.%d.%d-%d", 1+i%4, i%17, i%5, 1+i%3),
			Arch: "amd64", Source: name})
	}
	return b
}

// slaDays by severity, as the default SLA policy.
var slaDays = map[string]int{"critical": 7, "high": 30, "medium": 90, "low": 180}

func fleetHost(f Fleet, i int, advs []advisory, start time.Time) store.FleetHost {
	rng := rand.New(rand.NewPCG(f.Seed, uint64(i)))
	b := f.Bases[i%len(f.Bases)]
	pkgs := make([]inventory.Package, 0, f.PackagesPerHost)
	seen := map[string]bool{}
	for j := 0; len(pkgs) < f.PackagesPerHost && len(b.Packages) > 0; j++ {
		p := b.Packages[j%len(b.Packages)]
		if j >= len(b.Packages) {
			p.Name = p.Name + "-extra" + strconv.Itoa(j/len(b.Packages))
		}
		if seen[p.Name+"\x00"+p.Arch] {
			continue
		}
		seen[p.Name+"\x00"+p.Arch] = true
		if rng.IntN(10) == 0 { // one package in ten is a release ahead
			p.Version += ".1"
		}
		pkgs = append(pkgs, p)
	}
	id := fmt.Sprintf("bench-%05d", i)
	crit := 1 + i%5
	h := store.FleetHost{
		Host: store.Host{ID: id, Hostname: fmt.Sprintf("host-%05d.example.net", i), EnrolledAt: start, LastSeenAt: f.Now.Add(-time.Duration(rng.IntN(3600)) * time.Second),
			CertSerial: fmt.Sprintf("%x", 0x10000+i), CertNotAfter: f.Now.AddDate(1, 0, 0), UserLabels: map[string]string{"criticality": strconv.Itoa(crit)}},
		Facts: inventory.Facts{Hostname: fmt.Sprintf("host-%05d.example.net", i), OS: b.OS, Kernel: "6.1.0-storetest", Arch: "x86_64",
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, PackageFormat: b.Format},
	}
	nf := min(f.FindingsPerHost, len(pkgs))
	for _, k := range rng.Perm(len(pkgs))[:nf] {
		p := &pkgs[k]
		a := advs[rng.IntN(len(advs))]
		// Matches are per package version, fleet-wide: the affected
		// version is one only this advisory affects, so every host that
		// has it has this finding.
		p.Version += "~" + strings.ToLower(a.ID)
		fixed := p.Version + "+fix1"
		first := start.Add(time.Duration(rng.Int64N(int64(f.History))))
		fd := store.FleetFinding{Name: p.Name, Arch: p.Arch, AdvisoryID: a.ID, InstalledVersion: p.Version, FixedVersion: fixed,
			FirstSeen: first, Severity: a.Severity, KEV: a.kev}
		sla := slaDays[a.Severity]
		if a.kev {
			sla = 3
		}
		due := first.AddDate(0, 0, sla)
		fd.DueAt, fd.DueReason = &due, fmt.Sprintf("%s: %d days", a.Severity, sla)
		fd.Priority = map[string]float64{"critical": 9, "high": 7, "medium": 5, "low": 3}[a.Severity] + float64(crit)/5
		fd.SSVC = map[string]string{"critical": "act", "high": "attend", "medium": "track*", "low": "track"}[a.Severity]
		fd.Reasons = []string{"severity " + a.Severity, "criticality " + strconv.Itoa(crit)}
		if rng.Float64() < f.Resolved {
			if r := first.Add(time.Hour + time.Duration(rng.Int64N(int64(60*24*time.Hour)))); r.Before(f.Now) {
				fd.ResolvedAt = &r
				fd.FixAvailable = true
				p.Version = fixed // upgraded
			}
		}
		if fd.ResolvedAt == nil && rng.IntN(3) > 0 { // two in three open findings have a fix on offer
			fd.FixAvailable = true
			h.Updates = append(h.Updates, store.Update{Name: p.Name, Arch: p.Arch, Version: fixed, Repo: "bookworm-security"})
		}
		h.Findings = append(h.Findings, fd)
	}
	h.Packages = pkgs
	return h
}
