package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
)

func advisoryRow(id, data string, cves ...string) Advisory {
	return Advisory{ID: id, Source: "osv", Published: t0, Modified: t0, Severity: "high", Summary: "s " + id,
		CVSS: []string{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, CVEs: cves, Data: []byte(data)}
}

func TestImportFeedIsAtomicAndIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		in := FeedImport{Status: FeedStatus{Name: "osv:test", Kind: "osv", Origin: "upload", Records: 2, Rejected: 1,
			Rejections: []Rejection{{Record: "bad.json", Reason: "invalid JSON"}}},
			Advisories: []Advisory{advisoryRow("A-1", `{"a":1}`, "CVE-2024-0001"), advisoryRow("A-2", `{"a":2}`, "CVE-2024-0002", "CVE-2024-0003")}}
		changed, err := db.ImportFeed(ctx, in, t0)
		if err != nil || len(changed) != 2 {
			t.Fatalf("first import: %v %v", changed, err)
		}
		changed, err = db.ImportFeed(ctx, in, t0.Add(time.Hour))
		if err != nil || len(changed) != 0 {
			t.Fatalf("re-import changed %v (%v), want nothing", changed, err)
		}
		in.Advisories[1].Data = []byte(`{"a":3}`)
		if changed, _ = db.ImportFeed(ctx, in, t0.Add(2*time.Hour)); len(changed) != 1 || changed[0] != "A-2" {
			t.Fatalf("changed record: %v", changed)
		}
		a, err := db.GetAdvisory(ctx, "A-2")
		if err != nil || string(a.Data) != `{"a":3}` || strings.Join(a.CVEs, ",") != "CVE-2024-0002,CVE-2024-0003" || len(a.CVSS) != 1 {
			t.Fatalf("stored advisory: %+v %v", a, err)
		}
		ids, _ := db.AdvisoriesByCVE(ctx, "CVE-2024-0003")
		if len(ids) != 1 || ids[0] != "A-2" {
			t.Fatalf("by CVE: %v", ids)
		}
		st, err := db.GetFeed(ctx, "osv:test")
		if err != nil || st.Records != 2 || st.Changed != 1 || st.Rejected != 1 || st.Rejections[0].Record != "bad.json" || !st.LastSync.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("feed status: %+v %v", st, err)
		}
		// An import with KEV and EPSS and a CVE named twice.
		bad := FeedImport{Status: FeedStatus{Name: "osv:test", Kind: "osv"}, Advisories: []Advisory{advisoryRow("A-3", `{}`)},
			EPSS: []EPSS{{CVE: "CVE-1", Score: 0.1}}}
		bad.KEV = []KEV{{CVE: "CVE-2024-0001", DateAdded: t0, DueDate: t0}}
		bad.Advisories = append(bad.Advisories, Advisory{ID: "A-4", Data: []byte(`{}`), CVEs: []string{"CVE-X"}})
		bad.Advisories[1].CVEs = append(bad.Advisories[1].CVEs, "CVE-X") // duplicate CVE within one advisory is ignored
		if _, err := db.ImportFeed(ctx, bad, t0); err != nil {
			t.Fatalf("import with a duplicate CVE: %v", err)
		}
		n, k, e, _ := db.CountAdvisories(ctx)
		if n != 4 || k != 1 || e != 1 {
			t.Fatalf("counts %d %d %d", n, k, e)
		}
		// Now make the transaction fail half-way through: the cancelled
		// context aborts it and none of its advisories land.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := db.ImportFeed(cctx, FeedImport{Status: FeedStatus{Name: "osv:other", Kind: "osv"},
			Advisories: []Advisory{advisoryRow("B-1", `{}`)}}, t0); err == nil {
			t.Fatal("import with a cancelled context succeeded")
		}
		if _, err := db.GetAdvisory(ctx, "B-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("half import left B-1: %v", err)
		}
		if err := db.RecordFeedError(ctx, "osv:test", "osv", "upload", "boom"); err != nil {
			t.Fatal(err)
		}
		st, _ = db.GetFeed(ctx, "osv:test")
		if st.Error != "boom" || st.Changed != 4 {
			t.Fatalf("after error: %+v", st)
		}
	})
}

// fakeMatcher affects bash below 5.1-6ubuntu1.1.
func affectBash(t PVTuple) []match.Match {
	if t.Name == "bash" && t.Version == "5.1-6ubuntu1" {
		return []match.Match{{AdvisoryID: "A-1", Fixed: "5.1-6ubuntu1.1"}}
	}
	return nil
}

func TestFindingsLifecycle(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "f", Kind: "osv"},
			Advisories: []Advisory{advisoryRow("A-1", `{}`, "CVE-2024-0001")},
			KEV:        []KEV{{CVE: "CVE-2024-0001", Vendor: "v", Product: "p", Name: "n", DateAdded: t0, DueDate: t0.Add(48 * time.Hour)}},
			EPSS:       []EPSS{{CVE: "CVE-2024-0001", Score: 0.9, Percentile: 0.99}}}, t0); err != nil {
			t.Fatal(err)
		}
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		enrollHost(t, db, newHost("a", "web1"))
		if err := db.SetHostUserLabels(ctx, "a", map[string]string{"criticality": "5"}); err != nil {
			t.Fatal(err)
		}
		checkin := func(rev int64, full bool, pkgs []inventory.Package, ups []Update) {
			t.Helper()
			c := Checkin{Facts: ubuntuFacts(), Full: full, BaseRevision: rev, Updates: ups, UpdatesChanged: true}
			if full {
				c.Packages = pkgs
			} else {
				c.Upserts = pkgs
			}
			if _, err := db.ApplyCheckin(ctx, "a", c, t0); err != nil {
				t.Fatal(err)
			}
		}
		reconcile := func(at time.Time) Reconciled {
			t.Helper()
			ts, err := db.UnmatchedTuples(ctx, "a", "ubuntu", "22.04")
			if err != nil {
				t.Fatal(err)
			}
			res := map[int64][]match.Match{}
			for _, tu := range ts {
				res[tu.PVID] = affectBash(tu)
			}
			if err := db.SaveMatches(ctx, "ubuntu", "22.04", res); err != nil {
				t.Fatal(err)
			}
			r, err := db.ReconcileFindings(ctx, "a", "ubuntu", "22.04", func(u, f string) bool { return u >= f }, at)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		checkin(0, true, []inventory.Package{pBash, pLibc}, []Update{{Name: "bash", Arch: "amd64", Version: "5.1-6ubuntu1.1"}})
		if r := reconcile(t0); r != (Reconciled{Opened: 1}) {
			t.Fatalf("first reconcile: %+v", r)
		}
		if r := reconcile(t0); r != (Reconciled{}) {
			t.Fatalf("second reconcile changed %+v", r)
		}
		var seen ScoreInput
		n, err := db.Rescore(ctx, "a", func(in ScoreInput) Score {
			seen = in
			due := in.FirstSeenAt.Add(24 * time.Hour)
			return Score{Severity: "critical", Priority: 88.5, SSVC: "Act", Reasons: []string{"why"}, KEV: in.KEV, DueAt: &due, DueReason: "kev"}
		})
		if err != nil || n != 1 {
			t.Fatalf("rescore: %d %v", n, err)
		}
		if !seen.KEV || seen.KEVDue == nil || !seen.KEVDue.Equal(t0.Add(48*time.Hour)) || seen.EPSS != 0.9 || !seen.FixAvailable ||
			seen.HostLabels["criticality"] != "5" || seen.HostLabels["os"] != "ubuntu" || len(seen.CVSS) != 1 {
			t.Fatalf("score input: %+v", seen)
		}
		yes := true
		fs, _, err := db.ListFindings(ctx, FindingFilter{KEV: &yes})
		if err != nil || len(fs) != 1 || fs[0].Priority != 88.5 || fs[0].Hostname != "web1" || fs[0].FixedVersion != "5.1-6ubuntu1.1" ||
			!fs[0].FixAvailable || fs[0].CVEs[0] != "CVE-2024-0001" || fs[0].Reasons[0] != "why" {
			t.Fatalf("list: %+v %v", fs, err)
		}
		later := t0.Add(25 * time.Hour)
		if od, _, _ := db.ListFindings(ctx, FindingFilter{Overdue: &later}); len(od) != 1 {
			t.Fatalf("overdue: %d", len(od))
		}
		if od, _, _ := db.ListFindings(ctx, FindingFilter{Overdue: &t0}); len(od) != 0 {
			t.Fatalf("not yet overdue: %d", len(od))
		}
		// Upgrade: resolved with the versions named.
		up := pBash
		up.Version = "5.1-6ubuntu1.1"
		checkin(1, false, []inventory.Package{up}, nil)
		if r := reconcile(t0.Add(time.Hour)); r != (Reconciled{Resolved: 1}) {
			t.Fatalf("after upgrade: %+v", r)
		}
		all, _, _ := db.ListFindings(ctx, FindingFilter{Status: "all"})
		if len(all) != 1 || all[0].Status != "resolved" || all[0].Resolution != "bash upgraded from 5.1-6ubuntu1 to 5.1-6ubuntu1.1" {
			t.Fatalf("resolved: %+v", all)
		}
		// Downgrade (a rollback): reopened, history kept.
		checkin(2, false, []inventory.Package{pBash}, nil)
		if r := reconcile(t0.Add(2 * time.Hour)); r != (Reconciled{Reopened: 1}) {
			t.Fatalf("after downgrade: %+v", r)
		}
		hist, err := db.FindingHistory(ctx, all[0].ID)
		if err != nil || len(hist) != 3 || hist[0].Kind != "opened" || hist[1].Kind != "resolved" || hist[2].Kind != "reopened" {
			t.Fatalf("history: %+v %v", hist, err)
		}
		// Removal resolves with that reason.
		if _, err := db.ApplyCheckin(ctx, "a", Checkin{Facts: ubuntuFacts(), BaseRevision: 3, Removes: []string{pBash.Key()}}, t0); err != nil {
			t.Fatal(err)
		}
		reconcile(t0.Add(3 * time.Hour))
		all, _, _ = db.ListFindings(ctx, FindingFilter{Status: "all"})
		if all[0].Resolution != "package bash removed" {
			t.Fatalf("removal: %+v", all[0])
		}
		// A changed advisory invalidates the matches of the packages it names.
		checkin(4, false, []inventory.Package{pBash}, nil)
		reconcile(t0.Add(4 * time.Hour))
		hosts, err := db.InvalidateMatches(ctx, []match.Key{{Distro: "ubuntu", Release: "22.04", Package: "bash"}})
		if err != nil || len(hosts) != 1 || hosts[0] != "a" {
			t.Fatalf("invalidate: %v %v", hosts, err)
		}
		ts, _ := db.UnmatchedTuples(ctx, "a", "ubuntu", "22.04")
		if len(ts) != 1 || ts[0].Name != "bash" {
			t.Fatalf("unmatched after invalidation: %+v", ts)
		}
		if _, _, err := db.ListFindings(ctx, FindingFilter{Status: "bogus"}); !errors.Is(err, ErrBadFilter) {
			t.Fatalf("bad status: %v", err)
		}
	})
}
