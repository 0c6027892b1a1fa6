package server

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/metrics"
	"github.com/patchbay/patchbay/internal/store"
)

// BenchmarkReportQuery measures the KPI report as the API computes it:
// reading hosts and findings from SQLite, then metrics.Compute over a
// year. Hosts: PATCHBAY_BENCH_HOSTS (default 10,000), 20 findings each,
// first seen over the past year, half of them resolved.
func BenchmarkReportQuery(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("PATCHBAY_BENCH_HOSTS")); err == nil && v > 0 {
		n = v
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: now.AddDate(-1, 0, 0)}
	ts := newTestServerAt(&testing.T{}, clock.now)
	ctx := context.Background()
	db := ts.db
	var advs []store.Advisory
	var pkgs []inventory.Package
	for i := range 20 {
		advs = append(advs, store.Advisory{ID: fmt.Sprintf("A-%d", i), Source: "osv", Severity: []string{"critical", "high", "medium", "low"}[i%4],
			Data: []byte(`{}`), Published: clock.now()})
		pkgs = append(pkgs, inventory.Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1", Arch: "amd64"})
	}
	if _, err := db.ImportFeed(ctx, store.FeedImport{Status: store.FeedStatus{Name: "f", Kind: "osv"}, Advisories: advs}, clock.now()); err != nil {
		b.Fatal(err)
	}
	db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk", Hash: "h", Prefix: "p", ExpiresAt: now.AddDate(1, 0, 0), CreatedAt: clock.now()})
	facts := inventory.Facts{OS: inventory.OS{ID: "debian", VersionID: "12"}, PackageFormat: inventory.FormatDpkg}
	matched := false
	for i := range n {
		id := fmt.Sprintf("h%05d", i)
		clock.t = now.AddDate(-1, 0, 0).Add(time.Duration(i) * (365 * 24 * time.Hour / time.Duration(n)))
		if _, err := db.EnrollHost(ctx, "h", store.Host{ID: id, Hostname: id, CertSerial: "s", CertNotAfter: now.AddDate(1, 0, 0),
			EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ApplyCheckin(ctx, id, store.Checkin{Facts: facts, Full: true, Packages: pkgs}, clock.now()); err != nil {
			b.Fatal(err)
		}
		if !matched {
			ts_, _ := db.UnmatchedTuples(ctx, id, "debian", "12")
			res := map[int64][]match.Match{}
			for _, t := range ts_ {
				var k int
				fmt.Sscanf(t.Name, "pkg%d", &k)
				res[t.PVID] = []match.Match{{AdvisoryID: fmt.Sprintf("A-%d", k), Fixed: "1.0-2"}}
			}
			db.SaveMatches(ctx, "debian", "12", res)
			matched = true
		}
		if _, err := db.ReconcileFindings(ctx, id, "debian", "12", func(string, string) bool { return true }, clock.now()); err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 { // half the hosts patch ten of their packages a month later
			up := make([]inventory.Package, 10)
			for j := range up {
				up[j] = pkgs[j]
				up[j].Version = "1.0-2"
			}
			db.ApplyCheckin(ctx, id, store.Checkin{Facts: facts, BaseRevision: 1, Upserts: up}, clock.now())
			db.ReconcileFindings(ctx, id, "debian", "12", func(string, string) bool { return true }, clock.now().AddDate(0, 1, 0))
		}
	}
	clock.t = now
	if _, err := db.Rescore(ctx, "", ts.Server.vulns.score); err != nil {
		b.Fatal(err)
	}
	f := metrics.Filter{From: now.AddDate(-1, 0, 0), To: now}
	b.ResetTimer()
	for b.Loop() {
		in, err := ts.Server.reportInput(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rep := metrics.Compute(in, f, now)
		if len(in.Findings) != 20*n || len(rep.Series) < 365 {
			b.Fatalf("findings %d, series %d", len(in.Findings), len(rep.Series))
		}
	}
}
