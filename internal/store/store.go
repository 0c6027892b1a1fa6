package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// Errors the store returns; callers test them with errors.Is.
var (
	ErrNotFound         = errors.New("not found")
	ErrConflict         = errors.New("conflicts with an existing object")
	ErrRevisionMismatch = errors.New("delta check-in against a revision the server does not hold")
	ErrRevoked          = errors.New("host revoked")
)

// EnrollError says why an enrollment token was refused.
type EnrollError struct {
	Reason string
	At     time.Time // when the token expired or was revoked, where that applies
}

func (e *EnrollError) Error() string { return "enrollment refused: " + e.Reason }

// Dialect names the database behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is the store. It is safe for concurrent use.
type DB struct {
	db      *sql.DB // reads
	wdb     *sql.DB // writes: on SQLite one connection, so writers queue in Go instead of sleeping in SQLite's busy handler; on PostgreSQL the same pool as db
	dialect Dialect

	auditHooks  AuditHooks
	outboxAdded func()   // SetOutboxHook
	fixedModes  []string // SQLite files Open made private

	mu      sync.RWMutex
	pvCache map[pvKey]int64 // interned package version IDs, at most pvCacheMax; check-ins remove those no host holds (pruneVersions)

	checkins *checkinBatcher // group commit of check-ins (ApplyCheckin)
	stmts    stmtCache       // the check-in path's prepared statements (SQLite)
}

// Open opens the database at url, "sqlite:PATH" (or a path ending in .db)
// or "postgres://...", and migrates it to the newest schema this binary
// knows. It refuses a database whose schema is newer.
func Open(ctx context.Context, url string) (*DB, error) {
	var (
		d       Dialect
		db, wdb *sql.DB
		fixed   []string
		err     error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		d = Postgres
		db, err = sql.Open("pgx", url)
		if err == nil {
			db.SetMaxOpenConns(16)
			db.SetMaxIdleConns(16)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
		wdb = db
	case strings.HasPrefix(url, "sqlite:"):
		d = SQLite
		path := strings.TrimPrefix(url, "sqlite:")
		if fixed, err = privateSQLite(path); err != nil {
			return nil, err
		}
		if wdb, err = openSQLite(path, 1); err == nil {
			db, err = openSQLite(path, 8)
			if err != nil {
				wdb.Close()
			}
		}
	default:
		return nil, fmt.Errorf("database %q: use sqlite:PATH or postgres://USER@HOST/DB", redact(url))
	}
	if err != nil {
		return nil, err
	}
	s := &DB{db: db, wdb: wdb, dialect: d, pvCache: map[pvKey]int64{}, fixedModes: fixed}
	if err := wdb.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(url), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.checkins = newCheckinBatcher(s)
	return s, nil
}

func openSQLite(path string, conns int) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(15000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock when they begin, so two writers
	// never deadlock upgrading read locks; busy_timeout queues them.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// redact hides a password in a database URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func (s *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return err
	}
	gd := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		gd = goose.DialectPostgres
		// Replicas starting together migrate one at a time.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.wdb, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade patchbay, or point it at another database", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	if err := s.fillReport(ctx); err != nil {
		return fmt.Errorf("fill report rows: %w", err)
	}
	return nil
}

// SchemaVersion is the migration version the database is at.
func (s *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v)
	return v, err
}

// Close closes the database.
func (s *DB) Close() error {
	if s.checkins != nil {
		s.checkins.close()
	}
	s.closeStmts()
	err := s.db.Close()
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// Dialect says which database this is.
func (s *DB) Dialect() Dialect { return s.dialect }

// Ping checks the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// q rebinds a query written with '?' placeholders for the dialect.
func (s *DB) q(query string) string {
	if s.dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx runs fn in a transaction and commits when it returns nil. When ctx
// carries a PendingAudit with entries not yet stored, they are appended to
// the audit chain in the same transaction, after fn: if the append fails,
// nothing of fn's commits either. Every mutation the audit trail records
// goes through tx; bookkeeping writes (last use of a token, a host's last
// check-in) use wdb directly and never append a request's record.
func (s *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	// Outbox messages the context carries commit with fn's writes.
	if o := OutboxFrom(ctx); o != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.stored < len(o.msgs) {
			if err := s.insertOutbox(ctx, tx, o.msgs[o.stored:]); err != nil {
				_ = tx.Rollback()
				return err
			}
			n := len(o.msgs)
			defer func() {
				if err == nil {
					o.stored = n
					if s.outboxAdded != nil {
						s.outboxAdded()
					}
				}
			}()
		}
	}
	p := AuditFrom(ctx)
	if p == nil {
		return tx.Commit()
	}
	// Held through the commit: the same record is never appended twice by
	// two transactions of one context.
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.stored) == len(p.entries) {
		return tx.Commit()
	}
	chained, err := s.appendAudit(ctx, tx, p.entries[len(p.stored):])
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("append audit entry: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.stored = append(p.stored, chained...)
	if s.auditHooks.Appended != nil {
		s.auditHooks.Appended(chained[len(chained)-1])
	}
	return nil
}

// isUniqueViolation recognises a unique-constraint error of either driver
// without importing their error types.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505") ||
		strings.Contains(m, "duplicate key value")
}

// ms converts a time to stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// msPtr and fromMSPtr do the same for nullable times.
func msPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMSPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
