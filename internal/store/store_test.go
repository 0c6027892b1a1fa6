package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/testenv"
)

// The contract suite runs every test on SQLite and on PostgreSQL.
// PostgreSQL needs PATCHBAY_TEST_POSTGRES (a URL to a database the test may
// create databases from); without it those runs skip, except under CI=true
// where they fail.

type opener func(t *testing.T) (*DB, string)

func dialects(t *testing.T) map[string]opener {
	return map[string]opener{
		"sqlite": func(t *testing.T) (*DB, string) {
			u := "sqlite:" + filepath.Join(t.TempDir(), "patchbay.db")
			return mustOpen(t, u), u
		},
		"postgres": func(t *testing.T) (*DB, string) {
			u := freshPostgres(t)
			return mustOpen(t, u), u
		},
	}
}

func mustOpen(t *testing.T, u string) *DB {
	t.Helper()
	db, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// freshPostgres creates an empty database for one test and drops it after.
func freshPostgres(t *testing.T) string {
	t.Helper()
	return testenv.FreshPostgres(t, testenv.Postgres(t))
}

func forEach(t *testing.T, fn func(t *testing.T, db *DB, u string)) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, u := open(t)
			fn(t, db, u)
		})
	}
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestMigrationsAndNewerSchema(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, u string) {
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		// Opening again is a no-op.
		db2 := mustOpen(t, u)
		if v2, _ := db2.SchemaVersion(ctx); v2 != v {
			t.Fatalf("second open changed version %d → %d", v, v2)
		}
		db2.Close()
		// A schema from the future is refused.
		if _, err := db.wdb.ExecContext(ctx, db.q(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`), 99999, true); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("open with a newer schema: %v", err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("mysql URL accepted")
	}
	if got := redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("redact kept the password: %s", got)
	}
}

func TestUsersAndAPITokens(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		u, err := db.CreateUser(ctx, User{ID: "u1", Username: "alice", PasswordHash: "h", Role: "admin", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateUser(ctx, User{ID: "u2", Username: "alice", PasswordHash: "h", Role: "admin", CreatedAt: t0}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		got, err := db.GetUserByName(ctx, "alice")
		if err != nil || got.ID != u.ID || !got.CreatedAt.Equal(t0) {
			t.Fatalf("get user: %+v %v", got, err)
		}
		if _, err := db.GetUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing user: %v", err)
		}
		exp := t0.Add(time.Hour)
		tok := APIToken{ID: "t1", Name: "ci", Hash: "hash1", Prefix: "pbt_abc", Role: "operator", UserID: "u1", CreatedAt: t0, ExpiresAt: &exp}
		if err := db.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateAPIToken(ctx, APIToken{ID: "t2", Hash: "hash1", CreatedAt: t0}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate hash: %v", err)
		}
		got1, err := db.GetAPITokenByHash(ctx, "hash1")
		if err != nil || got1.Role != "operator" || got1.ExpiresAt == nil || !got1.ExpiresAt.Equal(exp) || got1.RevokedAt != nil {
			t.Fatalf("token by hash: %+v %v", got1, err)
		}
		if err := db.TouchAPIToken(ctx, "t1", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeAPIToken(ctx, "t1", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeAPIToken(ctx, "t1", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got1, _ = db.GetAPITokenByHash(ctx, "hash1")
		if got1.RevokedAt == nil || !got1.RevokedAt.Equal(t0.Add(2*time.Minute)) || !got1.LastUsedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("after touch and revoke: %+v", got1)
		}
		if err := db.RevokeAPIToken(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		list, err := db.ListAPITokens(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

func enrollToken(t *testing.T, db *DB, id string, max int, exp time.Time, labels map[string]string) {
	t.Helper()
	if err := db.CreateEnrollToken(context.Background(), EnrollToken{ID: id, Hash: "h-" + id, Prefix: "PBE1." + id,
		MaxHosts: max, ExpiresAt: exp, CreatedBy: "u1", CreatedAt: t0, Labels: labels}); err != nil {
		t.Fatal(err)
	}
}

// enrollHost enrolls h with the token "tk" (see enrollToken) at t0.
func enrollHost(t *testing.T, db *DB, h Host) {
	t.Helper()
	if _, err := db.EnrollHost(context.Background(), "h-tk", h, t0); err != nil {
		t.Fatal(err)
	}
}

func newHost(id, name string) Host {
	return Host{ID: id, Hostname: name, CertSerial: "s-" + id, CertNotAfter: t0.Add(24 * time.Hour), EnrolledAt: t0, LastSeenAt: t0}
}

func TestEnrollment(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "one", 1, t0.Add(time.Hour), map[string]string{"env": "prod"})
		h, err := db.EnrollHost(ctx, "h-one", newHost("a", "web1"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if h.UserLabels["env"] != "prod" || h.EnrollTokenID != "one" || h.Revision != 0 {
			t.Fatalf("enrolled host: %+v", h)
		}
		var ee *EnrollError
		_, err = db.EnrollHost(ctx, "h-one", newHost("b", "web2"), t0)
		if !errors.As(err, &ee) || !strings.Contains(ee.Reason, "exhausted") {
			t.Fatalf("second use of a one-host token: %v", err)
		}
		if _, err := db.GetHost(ctx, "b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused host was stored: %v", err)
		}
		_, err = db.EnrollHost(ctx, "h-unknown", newHost("c", "x"), t0)
		if !errors.As(err, &ee) || !strings.Contains(ee.Reason, "unknown") {
			t.Fatalf("unknown token: %v", err)
		}
		enrollToken(t, db, "old", 0, t0.Add(-time.Second), nil)
		_, err = db.EnrollHost(ctx, "h-old", newHost("d", "x"), t0)
		if !errors.As(err, &ee) || !strings.Contains(ee.Reason, "expired") {
			t.Fatalf("expired token: %v", err)
		}
		enrollToken(t, db, "rev", 0, t0.Add(time.Hour), nil)
		if err := db.RevokeEnrollToken(ctx, "rev", t0); err != nil {
			t.Fatal(err)
		}
		_, err = db.EnrollHost(ctx, "h-rev", newHost("e", "x"), t0)
		if !errors.As(err, &ee) || !strings.Contains(ee.Reason, "revoked") {
			t.Fatalf("revoked token: %v", err)
		}
		toks, err := db.ListEnrollTokens(ctx)
		if err != nil || len(toks) != 3 {
			t.Fatalf("tokens: %d %v", len(toks), err)
		}
		for _, tk := range toks {
			if tk.ID == "one" && tk.Uses != 1 {
				t.Fatalf("uses of token one: %d", tk.Uses)
			}
		}
	})
}

// Many agents racing for the last uses of a token: exactly MaxHosts win.
func TestEnrollmentRace(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "race", 5, t0.Add(time.Hour), nil)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.EnrollHost(ctx, "h-race", newHost(fmt.Sprintf("r%d", i), fmt.Sprintf("h%d", i)), t0)
				mu.Lock()
				defer mu.Unlock()
				var ee *EnrollError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &ee):
					refused++
				default:
					t.Errorf("enroll %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if ok != 5 || refused != 15 {
			t.Fatalf("enrolled %d, refused %d; want 5 and 15", ok, refused)
		}
		if n, _ := db.CountHosts(ctx, HostFilter{}); n != 5 {
			t.Fatalf("hosts stored: %d", n)
		}
	})
}

func ubuntuFacts() inventory.Facts {
	return inventory.Facts{Hostname: "web1", OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, Kernel: "5.15.0-1", Arch: "x86_64",
		PackageFormat: inventory.FormatDpkg, RebootRequired: true, RebootReasons: []string{"linux-image-5.15.0-2"}}
}

var (
	pLibc    = inventory.Package{Name: "libc6", Version: "2.35-0ubuntu3.1", Arch: "amd64", Source: "glibc"}
	pLibc2   = inventory.Package{Name: "libc6", Version: "2.35-0ubuntu3.8", Arch: "amd64", Source: "glibc"}
	pLibc386 = inventory.Package{Name: "libc6", Version: "2.35-0ubuntu3.1", Arch: "i386", Source: "glibc"}
	pBash    = inventory.Package{Name: "bash", Version: "5.1-6ubuntu1", Arch: "amd64", Source: "bash"}
	pTzdata  = inventory.Package{Name: "tzdata", Version: "2024a-0ubuntu0.22.04", Arch: "all", Source: "tzdata"}
)

func names(ps []HostPackage) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name+":"+p.Arch+"="+p.Version+"+"+p.UpdateVersion)
	}
	return strings.Join(s, " ")
}

func TestCheckinFullAndDelta(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		for _, id := range []string{"a", "b"} {
			enrollHost(t, db, newHost(id, "host-"+id))
		}
		full := Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pLibc, pLibc386, pBash},
			Updates: []Update{{Name: "libc6", Arch: "amd64", Version: "2.35-0ubuntu3.8", Repo: "jammy-security"}}, UpdatesChanged: true}
		rev, err := db.ApplyCheckin(ctx, "a", full, t0.Add(time.Minute))
		if err != nil || rev != 1 {
			t.Fatalf("full check-in: rev %d, %v", rev, err)
		}
		if _, err := db.ApplyCheckin(ctx, "b", full, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		pkgs, err := db.ListHostPackages(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(pkgs), "bash:amd64=5.1-6ubuntu1+ libc6:amd64=2.35-0ubuntu3.1+2.35-0ubuntu3.8 libc6:i386=2.35-0ubuntu3.1+"; got != want {
			t.Fatalf("packages:\n got %s\nwant %s", got, want)
		}
		if pkgs[1].Source != "glibc" || pkgs[1].Format != inventory.FormatDpkg {
			t.Fatalf("libc6 row: %+v", pkgs[1])
		}
		h, _ := db.GetHost(ctx, "a")
		if h.PackageCount != 3 || h.UpdateCount != 1 || h.Revision != 1 || !h.LastSeenAt.Equal(t0.Add(time.Minute)) ||
			h.Facts.OS.VersionID != "22.04" || h.Labels["os"] != "ubuntu" || h.Labels["release"] != "22.04" {
			t.Fatalf("host after full: %+v", h)
		}
		// The two hosts share interned versions.
		var n int
		if err := db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM package_versions").Scan(&n); err != nil || n != 3 {
			t.Fatalf("package_versions rows: %d %v", n, err)
		}

		// Delta: libc6 upgraded, i386 removed, tzdata added; updates now empty.
		delta := Checkin{Facts: ubuntuFacts(), BaseRevision: 1, Upserts: []inventory.Package{pLibc2, pTzdata},
			Removes: []string{pLibc386.Key()}, UpdatesChanged: true}
		rev, err = db.ApplyCheckin(ctx, "a", delta, t0.Add(2*time.Minute))
		if err != nil || rev != 2 {
			t.Fatalf("delta: rev %d, %v", rev, err)
		}
		pkgs, _ = db.ListHostPackages(ctx, "a")
		if got, want := names(pkgs), "bash:amd64=5.1-6ubuntu1+ libc6:amd64=2.35-0ubuntu3.8+ tzdata:all=2024a-0ubuntu0.22.04+"; got != want {
			t.Fatalf("after delta:\n got %s\nwant %s", got, want)
		}
		// Host b is untouched.
		pb, _ := db.ListHostPackages(ctx, "b")
		if len(pb) != 3 || pb[1].Version != pLibc.Version {
			t.Fatalf("host b changed by a's delta: %s", names(pb))
		}
		// A delta against a stale base changes nothing.
		stale := Checkin{Facts: ubuntuFacts(), BaseRevision: 1, Removes: []string{pBash.Key()}}
		if _, err := db.ApplyCheckin(ctx, "a", stale, t0.Add(3*time.Minute)); !errors.Is(err, ErrRevisionMismatch) {
			t.Fatalf("stale delta: %v", err)
		}
		pkgs, _ = db.ListHostPackages(ctx, "a")
		if len(pkgs) != 3 {
			t.Fatalf("stale delta changed packages: %s", names(pkgs))
		}
		// An empty delta keeps the revision and updates last seen.
		rev, err = db.ApplyCheckin(ctx, "a", Checkin{Facts: ubuntuFacts(), BaseRevision: 2}, t0.Add(4*time.Minute))
		if err != nil || rev != 2 {
			t.Fatalf("empty delta: %d %v", rev, err)
		}
		// A full report replaces: bash gone.
		rev, err = db.ApplyCheckin(ctx, "a", Checkin{Facts: ubuntuFacts(), Full: true, Packages: []inventory.Package{pLibc2, pTzdata}}, t0.Add(5*time.Minute))
		if err != nil || rev != 3 {
			t.Fatalf("second full: %d %v", rev, err)
		}
		pkgs, _ = db.ListHostPackages(ctx, "a")
		if got := names(pkgs); got != "libc6:amd64=2.35-0ubuntu3.8+ tzdata:all=2024a-0ubuntu0.22.04+" {
			t.Fatalf("after second full: %s", got)
		}
		// Revoked hosts cannot write.
		if err := db.RevokeHost(ctx, "a", t0.Add(6*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyCheckin(ctx, "a", Checkin{Facts: ubuntuFacts(), BaseRevision: 3}, t0.Add(7*time.Minute)); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked host check-in: %v", err)
		}
		if err := db.RenewHostCert(ctx, "a", "s2", t0.Add(48*time.Hour)); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked host renewal: %v", err)
		}
		if _, err := db.ApplyCheckin(ctx, "zzz", full, t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown host: %v", err)
		}
	})
}

func TestLargeFullCheckin(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		enrollHost(t, db, newHost("big", "big"))
		var pkgs []inventory.Package
		var ups []Update
		for i := range 1200 {
			pkgs = append(pkgs, inventory.Package{Name: fmt.Sprintf("pkg%04d", i), Version: "1.0-1", Arch: "amd64"})
			if i%3 == 0 {
				ups = append(ups, Update{Name: fmt.Sprintf("pkg%04d", i), Arch: "amd64", Version: "1.0-2"})
			}
		}
		if _, err := db.ApplyCheckin(ctx, "big", Checkin{Facts: ubuntuFacts(), Full: true, Packages: pkgs, Updates: ups}, t0); err != nil {
			t.Fatal(err)
		}
		got, _ := db.ListHostPackages(ctx, "big")
		h, _ := db.GetHost(ctx, "big")
		if len(got) != 1200 || h.PackageCount != 1200 || h.UpdateCount != 400 || got[3].UpdateVersion != "1.0-2" || got[4].UpdateVersion != "" {
			t.Fatalf("large check-in: %d packages, host %d/%d", len(got), h.PackageCount, h.UpdateCount)
		}
		if got[0].Source != "pkg0000" {
			t.Fatalf("source defaults to the name: %+v", got[0])
		}
	})
}

func TestHostFilters(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		type spec struct {
			id, name, os, ver string
			reboot            bool
			seen              time.Duration
		}
		specs := []spec{
			{"1", "web-01", "ubuntu", "22.04", true, 0},
			{"2", "web-02", "ubuntu", "22.04", false, 0},
			{"3", "db-01", "almalinux", "9.4", false, -10 * time.Minute},
			{"4", "cache_01", "alpine", "3.19.1", false, 0},
			{"5", "WEB-03", "ubuntu", "20.04", true, -time.Hour},
		}
		for _, s := range specs {
			enrollHost(t, db, newHost(s.id, s.name))
			f := inventory.Facts{Hostname: s.name, OS: inventory.OS{ID: s.os, VersionID: s.ver}, Arch: "x86_64", RebootRequired: s.reboot}
			if _, err := db.ApplyCheckin(ctx, s.id, Checkin{Facts: f, Full: true}, t0.Add(s.seen)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SetHostUserLabels(ctx, "2", map[string]string{"env": "prod", "os": "custom"}); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeHost(ctx, "4", t0); err != nil {
			t.Fatal(err)
		}
		yes := true
		cut := t0.Add(-5 * time.Minute)
		cases := []struct {
			name string
			f    HostFilter
			want string
		}{
			{"all active", HostFilter{}, "db-01 web-01 web-02 WEB-03"},
			{"with revoked", HostFilter{IncludeRevoked: true}, "cache_01 db-01 web-01 web-02 WEB-03"},
			{"os", HostFilter{OS: "ubuntu"}, "web-01 web-02 WEB-03"}, // web-02's user label os=custom does not change its OS
			{"os version", HostFilter{OS: "ubuntu 22.04"}, "web-01 web-02"},
			{"os colon", HostFilter{OS: "ubuntu:20.04"}, "WEB-03"},
			{"major version", HostFilter{OS: "almalinux 9"}, "db-01"},
			{"no 9 in 9x", HostFilter{OS: "almalinux 9.4.1"}, ""},
			{"reboot", HostFilter{RebootRequired: &yes}, "web-01 WEB-03"},
			{"stale", HostFilter{SeenBefore: &cut}, "db-01 WEB-03"},
			{"fresh", HostFilter{SeenSince: &cut}, "web-01 web-02"},
			{"user label", HostFilter{Labels: map[string]string{"env": "prod"}}, "web-02"},
			{"user label wins", HostFilter{Labels: map[string]string{"os": "custom"}}, "web-02"},
			{"agent label", HostFilter{Labels: map[string]string{"os": "ubuntu", "release": "22.04"}}, "web-01"},
			{"search", HostFilter{Search: "WEB"}, "web-01 web-02 WEB-03"},
			{"search like chars", HostFilter{Search: "_", IncludeRevoked: true}, "cache_01"},
		}
		for _, c := range cases {
			hosts, _, err := db.ListHosts(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var got []string
			for _, h := range hosts {
				got = append(got, h.Hostname)
			}
			if g := strings.Join(got, " "); g != c.want {
				// Byte order sorts upper case first in PostgreSQL's C
				// collation but not in others; compare as sets.
				if !sameSet(g, c.want) {
					t.Errorf("%s: got %q, want %q", c.name, g, c.want)
				}
			}
			n, err := db.CountHosts(ctx, c.f)
			if err != nil || n != len(got) {
				t.Errorf("%s: count %d, list %d, %v", c.name, n, len(got), err)
			}
		}
		// Paging visits every host exactly once.
		seen := map[string]bool{}
		f := HostFilter{IncludeRevoked: true, Limit: 2}
		pages := 0
		for {
			hosts, next, err := db.ListHosts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, h := range hosts {
				if seen[h.ID] {
					t.Fatalf("host %s on two pages", h.ID)
				}
				seen[h.ID] = true
			}
			if next == "" {
				break
			}
			f.After = next
		}
		if len(seen) != 5 || pages != 3 {
			t.Fatalf("paging saw %d hosts in %d pages", len(seen), pages)
		}
		if _, _, err := db.ListHosts(ctx, HostFilter{After: "!!"}); !errors.Is(err, ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

func sameSet(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	if len(x) != len(y) {
		return false
	}
	m := map[string]int{}
	for _, s := range x {
		m[s]++
	}
	for _, s := range y {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestRenewHostCert(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		enrollHost(t, db, newHost("a", "a"))
		if err := db.RenewHostCert(ctx, "a", "s-new", t0.Add(72*time.Hour)); err != nil {
			t.Fatal(err)
		}
		h, _ := db.GetHost(ctx, "a")
		if h.CertSerial != "s-new" || h.PrevCertSerial != "s-a" || !h.CertNotAfter.Equal(t0.Add(72*time.Hour)) {
			t.Fatalf("after renewal: %+v", h)
		}
		if err := db.RenewHostCert(ctx, "nope", "x", t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("renew unknown: %v", err)
		}
	})
}
