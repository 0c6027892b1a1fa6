package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
)

// AuditRecord is one stored audit entry: its sequence, time and hash as
// columns, the entry itself (package audit's encoding) as JSON.
type AuditRecord struct {
	Seq   uint64
	At    time.Time
	Entry []byte
	Hash  string
}

// AppendAudit appends entries on their own, in one transaction, chained
// as the transactions of audited mutations chain theirs (see WithAudit).
// It is for events that change nothing else: a refused request, a sign-in.
func (s *DB) AppendAudit(ctx context.Context, es ...audit.Entry) ([]audit.Entry, error) {
	p := NewPendingAudit(es...)
	if err := s.tx(WithAudit(ctx, p), func(*sql.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return p.Stored(), nil
}

// appendAudit chains es to the stored log and inserts them, in tx, with a
// signed checkpoint every AuditCheckpointEvery entries. The chain's head is
// read after the append lock is held: SQLite has one writer; PostgreSQL
// takes a transaction-scoped advisory lock, so concurrent transactions and
// replicas never fork the chain. The lock is taken last in the
// transaction, so it is held only until the commit.
func (s *DB) appendAudit(ctx context.Context, tx *sql.Tx, es []audit.Entry) ([]audit.Entry, error) {
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7482661)`); err != nil {
			return nil, err
		}
	}
	var prev *audit.Entry
	var seq int64
	var raw []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, entry FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		var pe audit.Entry
		if err := json.Unmarshal(raw, &pe); err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", seq, err)
		}
		if pe.Seq != uint64(seq) {
			return nil, fmt.Errorf("audit entry %d holds seq %d", seq, pe.Seq)
		}
		prev = &pe
	}
	out := make([]audit.Entry, 0, len(es))
	for _, e := range es {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		c := audit.Chain(prev, e)
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_log (seq, at, entry, hash) VALUES (?, ?, ?, ?)`),
			int64(c.Seq), ms(c.Time), string(b), c.Hash); err != nil {
			return nil, err
		}
		if c.Seq%AuditCheckpointEvery == 0 && s.auditHooks.Checkpoint != nil {
			cp, err := s.auditHooks.Checkpoint(c)
			if err != nil {
				return nil, fmt.Errorf("sign audit checkpoint %d: %w", c.Seq, err)
			}
			if err := s.addAuditCheckpoint(ctx, tx, c.Seq, cp); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
		prev = &out[len(out)-1]
	}
	return out, nil
}

// AuditRange returns entries with from ≤ seq ≤ to (to 0: to the end), in
// sequence order.
func (s *DB) AuditRange(ctx context.Context, from, to uint64, fn func(AuditRecord) error) error {
	q, args := `SELECT seq, at, entry, hash FROM audit_log WHERE seq >= ?`, []any{int64(from)}
	if to > 0 {
		q, args = q+` AND seq <= ?`, append(args, int64(to))
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY seq`), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		var seq, at int64
		if err := rows.Scan(&seq, &at, &r.Entry, &r.Hash); err != nil {
			return err
		}
		r.Seq, r.At = uint64(seq), fromMS(at)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AddAuditCheckpoint stores a signed checkpoint (its JSON).
func (s *DB) AddAuditCheckpoint(ctx context.Context, seq uint64, checkpoint []byte) error {
	return s.addAuditCheckpoint(ctx, s.wdb, seq, checkpoint)
}

func (s *DB) addAuditCheckpoint(ctx context.Context, q queryer, seq uint64, checkpoint []byte) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO audit_checkpoints (seq, checkpoint) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING`),
		int64(seq), string(checkpoint))
	return err
}

// AuditCheckpoints returns every checkpoint's JSON, by sequence.
func (s *DB) AuditCheckpoints(ctx context.Context) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT checkpoint FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
