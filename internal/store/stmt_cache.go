package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of the check-in path on SQLite's one
// write connection. The sqlite driver prepares every statement it runs
// from its text, and at fleet scale parsing SQL was a fifth of the
// server's CPU (issue 14's profile); a statement prepared once on the
// writer is reused by every transaction, which runs on that same
// connection. PostgreSQL's driver (pgx) caches prepared statements per
// connection by itself, so there the cache stays out of the way.
//
// A statement cannot be prepared on the writer while a transaction holds
// it, so a miss inside a transaction only notes the text; the check-in
// batcher prepares the noted texts between batches (prepareMissed).
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	missed map[string]bool
}

// stmtCacheMax bounds the distinct texts kept: multi-row statements have a
// text per row count, and those of rare sizes are not worth keeping.
const stmtCacheMax = 512

// stmt returns query prepared on the writer, or nil when it is not (yet)
// cached: the caller then runs the text as usual.
func (s *DB) stmt(query string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts)+len(c.missed) < stmtCacheMax {
		if c.missed == nil {
			c.missed = map[string]bool{}
		}
		c.missed[query] = true
	}
	return nil
}

// prepareMissed prepares the texts stmt missed. The caller holds no
// transaction on the writer.
func (s *DB) prepareMissed(ctx context.Context) {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for query := range c.missed {
		st, err := s.wdb.PrepareContext(ctx, query)
		if err != nil {
			continue // not cached; it keeps running as text
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[query] = st
	}
	c.missed = nil
}

// txExec, txQuery and txQueryRow run a check-in statement in tx through
// the cache. query is already rebound for the dialect (s.q).
func (s *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

func (s *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

func (s *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// closeStmts closes the cached statements, before the writer closes.
func (s *DB) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for _, st := range s.stmts.stmts {
		st.Close()
	}
	s.stmts.stmts = nil
}
