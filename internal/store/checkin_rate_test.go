package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A host may add at most 10,000 package versions the server does not hold
// per hour after its first inventory; a larger check-in is refused with
// the numbers and the time it would pass, and stores nothing.
func TestCheckinRateOfNewPackageVersionsIsBounded(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		enrollHost(t, db, newHost("a", "host-a"))
		// The first inventory is not counted; a distro upgrade of all
		// 5,000 packages an hour later passes.
		if _, err := db.ApplyCheckin(ctx, "a", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 5000, "1-1")}, t0); err != nil {
			t.Fatal(err)
		}
		upgraded := t0.Add(time.Hour)
		rev, err := db.ApplyCheckin(ctx, "a", Checkin{Facts: debianFacts(), Full: true, Packages: numbered(0, 5000, "2-1")}, upgraded)
		if err != nil {
			t.Fatalf("a distro upgrade of 5,000 packages: %v", err)
		}
		// A minute later 6,000 more are too many: 166 of the 5,000 are
		// paid back, so 5,166 may be added now; 6,000 fit once 4,000 are
		// owed, after 834 more are paid back (300.24 s at 10,000 an hour).
		at := upgraded.Add(time.Minute)
		added := Checkin{Facts: debianFacts(), BaseRevision: rev, Upserts: numbered(5000, 11000, "1-1")}
		_, err = db.ApplyCheckin(ctx, "a", added, at)
		var re *CheckinRateError
		if !errors.As(err, &re) {
			t.Fatalf("6,000 new versions a minute after 5,000: %v, want a CheckinRateError", err)
		}
		want := CheckinRateError{New: 6000, Allowed: 5166, Limit: 10000, RetryAt: at.Add(300240 * time.Millisecond)}
		if *re != want {
			t.Errorf("refusal %+v, want %+v", *re, want)
		}
		if got := re.Error(); got != "check-in refused: it adds 6000 package versions the server does not hold, and a host may add at most 10000 an hour after its first inventory (5166 now); it fits from 2026-11-24T13:06:00Z" {
			t.Errorf("message %q", got)
		}
		h, _ := db.GetHost(ctx, "a")
		if h.Revision != rev || h.PackageCount != 5000 {
			t.Errorf("the refused check-in changed the host: revision %d, %d packages", h.Revision, h.PackageCount)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 5000 {
			t.Errorf("package_versions holds %d rows after the refusal, want 5,000", n)
		}
		// Seven minutes after the upgrade 1,166 are paid back: 6,166 fit.
		if _, err := db.ApplyCheckin(ctx, "a", added, upgraded.Add(7*time.Minute)); err != nil {
			t.Fatalf("the same check-in six minutes later: %v", err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM package_versions`); n != 11000 {
			t.Errorf("package_versions holds %d rows, want 11,000", n)
		}
	})
}
