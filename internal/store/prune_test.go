package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
)

// debianFacts is a Debian 12 host.
func debianFacts() inventory.Facts {
	return inventory.Facts{Hostname: "h", OS: inventory.OS{ID: "debian", VersionID: "12"}, Arch: "x86_64", PackageFormat: inventory.FormatDpkg}
}

// numbered returns packages pkg-FROM … pkg-(TO-1), each at version.
func numbered(from, to int, version string) []inventory.Package {
	out := make([]inventory.Package, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, inventory.Package{Name: fmt.Sprintf("pkg-%05d", i), Version: version, Arch: "amd64"})
	}
	return out
}

func countRows(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.db.QueryRowContext(context.Background(), db.q(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func pvID(t *testing.T, db *DB, name, version string) int64 {
	t.Helper()
	var id int64
	if err := db.db.QueryRowContext(context.Background(), db.q(`SELECT id FROM package_versions WHERE name = ? AND version = ?`), name, version).Scan(&id); err != nil {
		t.Fatalf("package version %s %s: %v", name, version, err)
	}
	return id
}

// A host that reports a new version of every package at every check-in
// (a hostile or broken agent) leaves the database holding only what hosts
// hold now: versions no host references are removed with their match
// results, and the findings they had keep their history.
func TestCheckinsRemovePackageVersionsNoHostHolds(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		for _, id := range []string{"a", "b"} {
			enrollHost(t, db, newHost(id, "host-"+id))
		}
		if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "osv:test", Kind: "osv"},
			Advisories: []Advisory{advisoryRow("DSA-1", `{}`), advisoryRow("DSA-2", `{}`)}}, t0); err != nil {
			t.Fatal(err)
		}
		// b holds the first 100 packages at the version a starts with.
		if _, err := db.ApplyCheckin(ctx, "b", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 100, "1.0-1")}, t0); err != nil {
			t.Fatal(err)
		}
		const held = 2000
		now := t0
		for round := range 6 {
			version := fmt.Sprintf("1.%d-1", round)
			if _, err := db.ApplyCheckin(ctx, "a", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, held, version)}, now); err != nil {
				t.Fatalf("full check-in %d: %v", round, err)
			}
			if round == 0 {
				// Two of a's package versions are affected: pkg-00007,
				// which b holds too, and pkg-00500, which only a holds.
				affected := map[int64][]match.Match{
					pvID(t, db, "pkg-00007", "1.0-1"): {{AdvisoryID: "DSA-1", Fixed: "1.1-1"}},
					pvID(t, db, "pkg-00500", "1.0-1"): {{AdvisoryID: "DSA-2", Fixed: "1.1-1"}},
				}
				if err := db.SaveMatches(ctx, "debian", "12", affected); err != nil {
					t.Fatal(err)
				}
				if r, err := db.ReconcileFindings(ctx, "a", "debian", "12", func(string, string) bool { return false }, now); err != nil || r.Opened != 2 {
					t.Fatalf("reconcile after the first check-in: %+v %v", r, err)
				}
			}
			if round == 1 {
				if r, err := db.ReconcileFindings(ctx, "a", "debian", "12", func(string, string) bool { return false }, now); err != nil || r.Resolved != 2 {
					t.Fatalf("reconcile after the upgrade: %+v %v", r, err)
				}
			}
			now = now.Add(time.Hour)
		}

		// a holds 2,000 versions (1.5-1), b 100 (1.0-1): nothing else is kept.
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 2100 {
			t.Errorf("package_versions holds %d rows after 6 full check-ins of 2,000 new versions, want 2,100 (what the two hosts hold)", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions WHERE name = ? AND version = ?`, "pkg-00007", "1.0-1"); n != 1 {
			t.Errorf("pkg-00007 1.0-1, which b still holds, has %d rows, want 1", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions WHERE name = ? AND version = ?`, "pkg-00500", "1.0-1"); n != 0 {
			t.Errorf("pkg-00500 1.0-1, which no host holds, has %d rows, want 0", n)
		}
		// The match results of the removed version went with it; those of
		// the version b still holds stayed.
		if n := countRows(t, db, `SELECT COUNT(*) FROM pv_matches WHERE advisory_id = ?`, "DSA-2"); n != 0 {
			t.Errorf("pv_matches keeps %d rows of the removed version", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM pv_matches WHERE advisory_id = ?`, "DSA-1"); n != 1 {
			t.Errorf("pv_matches has %d rows of the version b holds, want 1", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM pv_matched WHERE pv_id NOT IN (SELECT id FROM package_versions)`); n != 0 {
			t.Errorf("pv_matched keeps %d rows of removed versions", n)
		}
		// The findings on the removed versions keep their history.
		fs, _, err := db.ListFindings(ctx, FindingFilter{HostID: "a", Status: "all"})
		if err != nil || len(fs) != 2 {
			t.Fatalf("findings of a: %+v %v", fs, err)
		}
		for _, f := range fs {
			want := fmt.Sprintf("%s upgraded from 1.0-1 to 1.1-1", f.Name)
			if f.Status != "resolved" || f.Resolution != want || f.InstalledVersion != "1.0-1" {
				t.Errorf("finding %s: status %s, resolution %q, installed %s; want resolved, %q, 1.0-1", f.AdvisoryID, f.Status, f.Resolution, f.InstalledVersion, want)
			}
			h, err := db.FindingHistory(ctx, f.ID)
			if err != nil || len(h) != 2 || h[0].Kind != "opened" || h[1].Kind != "resolved" {
				t.Errorf("history of %s: %+v %v", f.AdvisoryID, h, err)
			}
		}
		// Deltas prune too: a removes a package and upgrades another.
		h, _ := db.GetHost(ctx, "a")
		delta := Checkin{Facts: debianFacts(), BaseRevision: h.Revision, Upserts: numbered(1, 2, "2.0-1"), Removes: []string{"pkg-00002:amd64"}}
		if _, err := db.ApplyCheckin(ctx, "a", delta, now); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 2099 {
			t.Errorf("package_versions holds %d rows after a delta that upgrades one package and removes one, want 2,099", n)
		}
		// A version pruned and then reported again is interned afresh.
		if _, err := db.ApplyCheckin(ctx, "b", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 100, "1.5-1")}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyCheckin(ctx, "b", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 100, "1.0-1")}, now); err != nil {
			t.Fatal(err)
		}
		pkgs, err := db.ListHostPackages(ctx, "b", "pkg-00007")
		if err != nil || len(pkgs) != 1 || pkgs[0].Version != "1.0-1" {
			t.Fatalf("b's pkg-00007 after going to 1.5-1 and back: %+v %v", pkgs, err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 2099 {
			t.Errorf("package_versions holds %d rows, want 2,099", n)
		}
	})
}

// Hosts that release and take up the same versions at the same time never
// see a check-in fail, and what stays is what they hold.
func TestConcurrentCheckinsPruneSafely(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		const hosts, rounds = 6, 10
		for i := range hosts {
			enrollHost(t, db, newHost(fmt.Sprint("h", i), fmt.Sprint("host-", i)))
		}
		var wg sync.WaitGroup
		for i := range hosts {
			wg.Go(func() {
				for round := range rounds {
					// Hosts are out of step: one releases what another takes up.
					version := []string{"1-1", "2-1"}[(round+i)%2]
					if _, err := db.ApplyCheckin(ctx, fmt.Sprint("h", i), Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 200, version)}, t0.Add(time.Duration(round)*time.Minute)); err != nil {
						t.Errorf("host %d round %d: %v", i, round, err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Hosts with an even number end on 2-1, the others on 1-1.
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 400 {
			t.Errorf("package_versions holds %d rows, want 400", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM host_packages hp WHERE NOT EXISTS (SELECT 1 FROM package_versions pv WHERE pv.id = hp.pv_id)`); n != 0 {
			t.Errorf("%d host packages point at removed versions", n)
		}
	})
}
