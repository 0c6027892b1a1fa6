package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// enrollHosts enrolls hosts h00, h01, … and returns their IDs.
func enrollHosts(t *testing.T, db *DB, n int) []string {
	t.Helper()
	enrollToken(t, db, "fleet", 0, t0.Add(time.Hour), nil)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("h%02d", i)
		if _, err := db.EnrollHost(context.Background(), "h-fleet", newHost(ids[i], "host-"+ids[i]), t0); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// ownPackage is a package only host id carries, so a check-in applied to
// the wrong host shows.
func ownPackage(id string) inventory.Package {
	return inventory.Package{Name: "app-" + id, Version: "1.0-" + id, Arch: "amd64"}
}

// Many hosts checking in at once: every one is answered with its own
// revision and stores its own packages, while the invalid ones among them
// (a stale delta, an unknown host, a revoked host) fail alone.
func TestConcurrentCheckinsEachGetTheirOwnResult(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		ids := enrollHosts(t, db, 24)
		if err := db.RevokeHost(ctx, "h23", t0); err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			rev int64
			err error
		}
		got := make(map[string]outcome)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for round := range 3 {
			for _, id := range append(ids, "nobody") {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					c := Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pBash, ownPackage(id)}}
					if id == "h07" {
						c = Checkin{Facts: ubuntuFacts(), BaseRevision: 5, Upserts: []inventory.Package{pLibc}} // stale base
					}
					rev, err := db.ApplyCheckin(ctx, id, c, t0.Add(time.Minute))
					mu.Lock()
					defer mu.Unlock()
					if round == 0 {
						got[id] = outcome{rev, err}
					}
				}()
			}
			if round == 0 {
				close(start)
			}
			wg.Wait()
		}
		for _, id := range ids[:23] {
			o := got[id]
			if id == "h07" {
				if !errors.Is(o.err, ErrRevisionMismatch) {
					t.Errorf("stale delta of h07: %v", o.err)
				}
				continue
			}
			if o.err != nil {
				t.Errorf("check-in of %s: %v", id, o.err)
				continue
			}
			pkgs, err := db.ListHostPackages(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := "app-" + id + ":amd64=1.0-" + id + "+ bash:amd64=5.1-6ubuntu1+"
			if names(pkgs) != want {
				t.Errorf("packages of %s: %s, want %s", id, names(pkgs), want)
			}
			h, _ := db.GetHost(ctx, id)
			// Three full reports of the same inventory: the first made
			// revision 1, each later one bumps it again.
			if h.Revision != 3 || h.PackageCount != 2 {
				t.Errorf("host %s: revision %d, %d packages; want 3 and 2", id, h.Revision, h.PackageCount)
			}
		}
		if !errors.Is(got["h23"].err, ErrRevoked) {
			t.Errorf("revoked host: %v", got["h23"].err)
		}
		if !errors.Is(got["nobody"].err, ErrNotFound) {
			t.Errorf("unknown host: %v", got["nobody"].err)
		}
		if pkgs, _ := db.ListHostPackages(ctx, "h07"); len(pkgs) != 0 {
			t.Errorf("stale delta stored packages: %s", names(pkgs))
		}
	})
}

// One batch, built by hand so the failures are sure to share it: a
// check-in refused after it wrote (the rate limit trips once it has
// interned its new version) is rolled back to its savepoint, and the
// check-ins before and after it commit.
func TestCheckinBatchRollsBackOnlyTheFailedOne(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		ids := enrollHosts(t, db, 4)
		for _, id := range ids {
			if _, err := db.ApplyCheckin(ctx, id, Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pBash}}, t0); err != nil {
				t.Fatal(err)
			}
		}
		// h01 owes two hours of new versions: a minute later it may add none.
		if _, err := db.wdb.ExecContext(ctx, db.q(`UPDATE hosts SET new_versions_debt = ?, new_versions_at = ? WHERE id = ?`),
			2*MaxNewVersionsPerHour, ms(t0), "h01"); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Minute)
		delta := func(id string, base int64) *checkinReq {
			return &checkinReq{ctx: ctx, hostID: id, now: at,
				c: Checkin{Facts: ubuntuFacts(), BaseRevision: base, Upserts: []inventory.Package{ownPackage(id)}}}
		}
		batch := []*checkinReq{delta("h00", 1), delta("h01", 1), delta("h02", 7), delta("h03", 1)}
		db.applyCheckinBatch(batch)

		var rate *CheckinRateError
		if !errors.As(batch[1].err, &rate) || rate.New != 1 {
			t.Fatalf("h01 over its rate: %v", batch[1].err)
		}
		if !errors.Is(batch[2].err, ErrRevisionMismatch) {
			t.Fatalf("h02 stale: %v", batch[2].err)
		}
		for _, r := range []*checkinReq{batch[0], batch[3]} {
			if r.err != nil || r.rev != 2 {
				t.Fatalf("%s: rev %d, %v; want 2", r.hostID, r.rev, r.err)
			}
			pkgs, _ := db.ListHostPackages(ctx, r.hostID)
			if want := "app-" + r.hostID + ":amd64=1.0-" + r.hostID + "+ bash:amd64=5.1-6ubuntu1+"; names(pkgs) != want {
				t.Fatalf("packages of %s: %s", r.hostID, names(pkgs))
			}
		}
		// Nothing of h01's check-in stays: not its package, not the
		// version it interned, not a reconcile mark, not a new last seen.
		pkgs, _ := db.ListHostPackages(ctx, "h01")
		if names(pkgs) != "bash:amd64=5.1-6ubuntu1+" {
			t.Fatalf("h01 after its refused check-in: %s", names(pkgs))
		}
		var n int
		if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM package_versions WHERE name = 'app-h01'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("version interned by the refused check-in: %d rows, %v", n, err)
		}
		h, _ := db.GetHost(ctx, "h01")
		if h.Revision != 1 || !h.LastSeenAt.Equal(t0) {
			t.Fatalf("h01 row changed: revision %d, last seen %s", h.Revision, h.LastSeenAt)
		}
		marks, err := db.HostsToReconcile(ctx, at, 10)
		if err != nil {
			t.Fatal(err)
		}
		// Every full report marked its host; of the deltas only h00's
		// and h03's (h01's and h02's were refused).
		want := map[string]int64{"h00": 2, "h01": 1, "h02": 1, "h03": 2}
		if len(marks) != 4 {
			t.Fatalf("marks: %+v", marks)
		}
		for _, m := range marks {
			if want[m.HostID] != m.Gen {
				t.Fatalf("mark of %s: generation %d, want %d", m.HostID, m.Gen, want[m.HostID])
			}
		}
	})
}

// A delta keeps the package count right without counting: an added slot
// adds one, an upgrade none, a removal takes one.
func TestDeltaKeepsPackageCount(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollHosts(t, db, 1)
		steps := []struct {
			c    Checkin
			want int
		}{
			{Checkin{Full: true, Packages: []inventory.Package{pLibc, pLibc386, pBash}}, 3},
			{Checkin{BaseRevision: 1, Upserts: []inventory.Package{pLibc2, pTzdata}, Removes: []string{pLibc386.Key()}}, 3},
			{Checkin{BaseRevision: 2, Removes: []string{pBash.Key(), "not-installed:amd64"}}, 2},
			{Checkin{BaseRevision: 3, Upserts: []inventory.Package{pLibc2}}, 2}, // the version it holds: no change
			{Checkin{BaseRevision: 3, Upserts: []inventory.Package{pBash, pLibc386}}, 4},
		}
		for i, st := range steps {
			st.c.Facts = ubuntuFacts()
			if _, err := db.ApplyCheckin(ctx, "h00", st.c, t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			h, _ := db.GetHost(ctx, "h00")
			pkgs, _ := db.ListHostPackages(ctx, "h00")
			if h.PackageCount != st.want || len(pkgs) != st.want {
				t.Fatalf("step %d: count %d, %d rows; want %d", i, h.PackageCount, len(pkgs), st.want)
			}
		}
	})
}

// Facts are rewritten when they change, not when only the uptime moved on.
func TestFactsWrittenWhenTheyChange(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollHosts(t, db, 1)
		f := ubuntuFacts()
		f.Uptime = time.Hour
		if _, err := db.ApplyCheckin(ctx, "h00", Checkin{Facts: f, Full: true, Packages: []inventory.Package{pBash}}, t0); err != nil {
			t.Fatal(err)
		}
		f.Uptime = time.Hour + time.Minute
		if _, err := db.ApplyCheckin(ctx, "h00", Checkin{Facts: f, BaseRevision: 1}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		h, _ := db.GetHost(ctx, "h00")
		if h.Facts.Uptime != time.Hour || !h.LastSeenAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("same facts a minute on: uptime %s (want the stored 1h0m0s), last seen %s", h.Facts.Uptime, h.LastSeenAt)
		}
		// Within the hour the stored uptime is refreshed (the period is
		// staggered per host, so an hour on always falls in the next one).
		f.Uptime = 2*time.Hour + time.Minute
		if _, err := db.ApplyCheckin(ctx, "h00", Checkin{Facts: f, BaseRevision: 1}, t0.Add(time.Hour+time.Minute)); err != nil {
			t.Fatal(err)
		}
		h, _ = db.GetHost(ctx, "h00")
		if h.Facts.Uptime != 2*time.Hour+time.Minute {
			t.Fatalf("same facts an hour on: uptime %s, want 2h1m0s", h.Facts.Uptime)
		}
		f.Kernel = "5.15.0-2"
		f.RebootRequired = false
		f.Uptime = 2 * time.Minute // rebooted
		if _, err := db.ApplyCheckin(ctx, "h00", Checkin{Facts: f, BaseRevision: 1, Problems: []string{"dpkg status: line 3"}}, t0.Add(time.Hour+2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		h, _ = db.GetHost(ctx, "h00")
		if h.Facts.Kernel != "5.15.0-2" || h.Facts.RebootRequired || h.Facts.Uptime != 2*time.Minute || len(h.Problems) != 1 || h.Labels["os"] != "ubuntu" {
			t.Fatalf("changed facts not stored: %+v", h)
		}
	})
}
