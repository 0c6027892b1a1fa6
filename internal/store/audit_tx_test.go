package store

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/pressly/goose/v3"
)

// failAuditAppends makes every insert into audit_log fail, as a full disk
// would, with a trigger.
func failAuditAppends(t *testing.T, db *DB) (undo func()) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`}
	drop := []string{`DROP TRIGGER audit_full`}
	if db.dialect == Postgres {
		stmts = []string{`CREATE FUNCTION audit_full() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_full()`}
		drop = []string{`DROP TRIGGER audit_full ON audit_log`, `DROP FUNCTION audit_full()`}
	}
	for _, q := range stmts {
		if _, err := db.wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range drop {
			if _, err := db.wdb.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func auditedCtx(action string) (context.Context, *PendingAudit) {
	p := NewPendingAudit(audit.Entry{Time: t0, Actor: "test", Action: action, Outcome: "ok"})
	return WithAudit(context.Background(), p), p
}

// A mutation whose audit entry cannot be appended is rolled back: the
// user, the feed and the revocation are not stored, and the caller gets
// the error.
func TestFailedAuditAppendRollsBackTheMutation(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if err := db.CreateAPIToken(ctx, APIToken{ID: "tok-1", Name: "ci", Hash: "h1", Prefix: "pbt_1", Role: "auditor", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		undo := failAuditAppends(t, db)
		actx, p := auditedCtx("user.create")
		if _, err := db.CreateUser(actx, User{ID: "u-1", Username: "carol", PasswordHash: "x", Role: "operator", CreatedAt: t0}); err == nil {
			t.Error("CreateUser succeeded while its audit entry failed")
		}
		if _, err := db.GetUserByName(ctx, "carol"); !errors.Is(err, ErrNotFound) {
			t.Errorf("carol stored without an audit entry: %v", err)
		}
		if len(p.Stored()) != 0 || !p.Pending() {
			t.Errorf("the entry counts as stored: %+v", p.Stored())
		}
		actx, _ = auditedCtx("token.revoke")
		if err := db.RevokeAPIToken(actx, "tok-1", t0); err == nil {
			t.Error("RevokeAPIToken succeeded while its audit entry failed")
		}
		actx, _ = auditedCtx("feed.import")
		if _, err := db.ImportFeed(actx, FeedImport{Status: FeedStatus{Name: "osv-test", Kind: "osv"}, Advisories: []Advisory{advisoryRow("A-1", `{}`)}}, t0); err == nil {
			t.Error("ImportFeed succeeded while its audit entry failed")
		}
		if _, err := db.GetFeed(ctx, "osv-test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("feed stored without an audit entry: %v", err)
		}
		undo()
		toks, _ := db.ListAPITokens(ctx)
		if len(toks) != 1 || toks[0].RevokedAt != nil {
			t.Errorf("token revoked without an audit entry: %+v", toks)
		}
		// With room again, the same record is appended once, with the user.
		actx, p = auditedCtx("user.create")
		if _, err := db.CreateUser(actx, User{ID: "u-1", Username: "carol", PasswordHash: "x", Role: "operator", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserRole(actx, "u-1", "approver"); err != nil {
			t.Fatal(err)
		}
		if got := p.Stored(); len(got) != 1 || got[0].Seq != 1 || got[0].Action != "user.create" {
			t.Errorf("stored: %+v", got)
		}
		n := 0
		db.AuditRange(ctx, 0, 0, func(AuditRecord) error { n++; return nil })
		if n != 1 {
			t.Errorf("%d entries in the log, want 1", n)
		}
	})
}

// Concurrent audited mutations (separate connections on PostgreSQL) never
// fork the chain: every entry is stored once, in one unbroken chain, with
// a checkpoint signed in the transaction of the 100th.
func TestConcurrentAuditedMutationsChainOnce(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		pub, key, _ := ed25519.GenerateKey(nil)
		db.SetAuditHooks(AuditHooks{Checkpoint: func(last audit.Entry) ([]byte, error) {
			return json.Marshal(audit.SignCheckpoint(key, last, t0))
		}})
		const workers, each = 12, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					name := fmt.Sprintf("user-%d-%d", w, i)
					ctx := WithAudit(context.Background(), NewPendingAudit(audit.Entry{Time: t0, Actor: "test", Action: "user.create", Target: name, Outcome: "ok"}))
					if _, err := db.CreateUser(ctx, User{ID: name, Username: name, PasswordHash: "x", Role: "operator", CreatedAt: t0}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var es []audit.Entry
		targets := map[string]int{}
		if err := db.AuditRange(context.Background(), 0, 0, func(r AuditRecord) error {
			var e audit.Entry
			if err := json.Unmarshal(r.Entry, &e); err != nil {
				return err
			}
			es = append(es, e)
			targets[e.Target]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		raw, err := db.AuditCheckpoints(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var cps []audit.Checkpoint
		for _, b := range raw {
			var cp audit.Checkpoint
			if err := json.Unmarshal(b, &cp); err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cp)
		}
		if len(es) != workers*each || len(targets) != workers*each || len(cps) != 1 || cps[0].Seq != 100 {
			t.Fatalf("%d entries for %d targets, checkpoints %+v; want %d, %d, one at 100", len(es), len(targets), cps, workers*each, workers*each)
		}
		if p := audit.Verify(es, cps, pub); p != nil {
			t.Fatalf("chain: %v", p)
		}
	})
}

// Migration 00014 gives each feed one name: "osv:NAME" (imports) and
// "osv-NAME" (syncs) become "osv-NAME", keeping the newer status, and the
// advisories follow.
func TestFeedNamesAreUnifiedByMigration(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		imports := []struct {
			name string
			id   string
			at   int // hours after t0
		}{
			{"osv:almalinux", "ALSA-1", 2}, {"osv-almalinux", "ALSA-2", 1}, {"osv:osv-rocky", "RLSA-1", 1},
			{"alpine-secdb:v3.20-main", "ALPINE-1", 1}, {"osv-debian", "DSA-1", 3}, {"osv:debian", "DSA-2", 1},
		}
		for _, im := range imports {
			if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: im.name, Kind: "osv", Origin: "from " + im.name},
				Advisories: []Advisory{advisoryRow(im.id, `{}`)}}, t0.Add(timeHours(im.at))); err != nil {
				t.Fatal(err)
			}
		}
		migrateTo(t, db, 13)
		if err := db.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		fs, err := db.ListFeeds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Name+" ← "+f.Origin)
		}
		want := []string{"alpine-secdb-v3.20-main ← from alpine-secdb:v3.20-main", "osv-almalinux ← from osv:almalinux",
			"osv-debian ← from osv-debian", "osv-rocky ← from osv:osv-rocky"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("feeds after the migration:\n got %q\nwant %q", got, want)
		}
		for id, feed := range map[string]string{"ALSA-1": "osv-almalinux", "ALSA-2": "osv-almalinux", "RLSA-1": "osv-rocky",
			"ALPINE-1": "alpine-secdb-v3.20-main", "DSA-1": "osv-debian", "DSA-2": "osv-debian"} {
			a, err := db.GetAdvisory(ctx, id)
			if err != nil || a.Feed != feed {
				t.Errorf("advisory %s is in feed %q (%v), want %s", id, a.Feed, err, feed)
			}
		}
	})
}

// migrateTo rolls the schema back to version v, as an older binary left it.
func migrateTo(t *testing.T, db *DB, v int64) {
	t.Helper()
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		t.Fatal(err)
	}
	gd := goose.DialectSQLite3
	if db.dialect == Postgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, db.wdb, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(context.Background(), v); err != nil {
		t.Fatal(err)
	}
}

func timeHours(n int) time.Duration { return time.Duration(n) * time.Hour }
