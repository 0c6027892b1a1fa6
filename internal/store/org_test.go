package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
)

func TestOrgRevisions(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if _, err := db.CurrentOrg(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("before first apply: %v", err)
		}
		rev, err := db.ApplyOrg(ctx, 0, "teams: []\n", "admin", "first", t0)
		if err != nil || rev != 1 {
			t.Fatalf("apply: %d %v", rev, err)
		}
		if _, err := db.ApplyOrg(ctx, 0, "teams: [x]\n", "bob", "stale", t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("apply on a stale base: %v", err)
		}
		cur, err := db.CurrentOrg(ctx)
		if err != nil || cur.Revision != 1 || cur.YAML != "teams: []\n" || cur.AppliedBy != "admin" {
			t.Fatalf("current: %+v %v", cur, err)
		}
	})
}

func TestExceptionsLifecycle(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		// A host with two open findings.
		if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "f", Kind: "osv"},
			Advisories: []Advisory{advisoryRow("A-1", `{}`), advisoryRow("A-2", `{}`)}}, t0); err != nil {
			t.Fatal(err)
		}
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		db.EnrollHost(ctx, "h-tk", newHost("a", "web1"), t0)
		db.ApplyCheckin(ctx, "a", Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pBash, pLibc}}, t0)
		ts, _ := db.UnmatchedTuples(ctx, "a", "ubuntu", "22.04")
		res := map[int64][]match.Match{}
		for _, tu := range ts {
			res[tu.PVID] = []match.Match{{AdvisoryID: map[string]string{"bash": "A-1", "libc6": "A-2"}[tu.Name]}}
		}
		db.SaveMatches(ctx, "ubuntu", "22.04", res)
		if _, err := db.ReconcileFindings(ctx, "a", "ubuntu", "22.04", func(string, string) bool { return false }, t0); err != nil {
			t.Fatal(err)
		}

		e := Exception{ID: "e1", Team: "web", AdvisoryID: "A-1", Justification: "compensating WAF rule", RequestedBy: "alice",
			RequestedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}
		if err := db.CreateException(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := db.ApproveException(ctx, "e1", "bob", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.ApproveException(ctx, "e1", "carol", t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("second approval: %v", err)
		}
		n, err := db.ApplyExceptions(ctx, "", []ExceptionCover{{ID: "e1", AdvisoryID: "A-1"}})
		if err != nil || n != 1 {
			t.Fatalf("apply exceptions: %d %v", n, err)
		}
		yes, no := true, false
		if ex, _, _ := db.ListFindings(ctx, FindingFilter{Excepted: &yes}); len(ex) != 1 || ex[0].ExceptionID != "e1" || ex[0].AdvisoryID != "A-1" {
			t.Fatalf("excepted findings: %+v", ex)
		}
		if ex, _, _ := db.ListFindings(ctx, FindingFilter{Excepted: &no}); len(ex) != 1 || ex[0].AdvisoryID != "A-2" {
			t.Fatalf("not excepted: %+v", ex)
		}
		// Host scoping: a cover naming other hosts does not mark this one.
		if n, _ := db.ApplyExceptions(ctx, "a", []ExceptionCover{{ID: "e1", HostIDs: []string{"zzz"}}}); n != 0 {
			t.Fatalf("cover for another host marked %d", n)
		}
		if got, _ := db.ExpireExceptions(ctx, t0.Add(47*time.Hour)); len(got) != 0 {
			t.Fatalf("expired early: %+v", got)
		}
		got, err := db.ExpireExceptions(ctx, t0.Add(48*time.Hour))
		if err != nil || len(got) != 1 || got[0].ID != "e1" || got[0].ExpiredAt == nil {
			t.Fatalf("expiry: %+v %v", got, err)
		}
		if again, _ := db.ExpireExceptions(ctx, t0.Add(49*time.Hour)); len(again) != 0 {
			t.Fatalf("expired twice: %+v", again)
		}
		c := CalendarFeed{ID: "c1", Scope: "team", Name: "web", TokenHash: "hh", CreatedBy: "admin", CreatedAt: t0}
		if err := db.CreateCalendarFeed(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got, err := db.CalendarFeedByHash(ctx, "hh"); err != nil || got.Name != "web" {
			t.Fatalf("calendar by hash: %+v %v", got, err)
		}
		if err := db.RevokeCalendarFeed(ctx, "c1", t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.CalendarFeedByHash(ctx, "hh"); got.RevokedAt == nil {
			t.Fatal("calendar not revoked")
		}
	})
}
