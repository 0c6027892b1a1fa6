package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AuditRecord is one stored audit entry: its sequence, time and hash as
// columns, the entry itself (package audit's encoding) as JSON.
type AuditRecord struct {
	Seq   uint64
	At    time.Time
	Entry []byte
	Hash  string
}

// AppendAudit appends one entry. next receives the last stored record
// (nil for the first) and returns the new one, chained to it. Appends are
// serialised: SQLite has one writer; PostgreSQL takes a transaction-scoped
// advisory lock, so replicas never fork the chain.
func (s *DB) AppendAudit(ctx context.Context, next func(prev *AuditRecord) (AuditRecord, error)) (AuditRecord, error) {
	recs, err := s.AppendAudits(ctx, 1, next)
	if err != nil {
		return AuditRecord{}, err
	}
	return recs[0], nil
}

// AppendAudits appends n entries in one transaction, as AppendAudit does
// one: next receives each time the record before (the last stored one
// first), so a batch of entries costs one commit, not n.
func (s *DB) AppendAudits(ctx context.Context, n int, next func(prev *AuditRecord) (AuditRecord, error)) ([]AuditRecord, error) {
	var recs []AuditRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		recs = recs[:0]
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7482661)`); err != nil {
				return err
			}
		}
		var prev *AuditRecord
		var p AuditRecord
		var at int64
		err := tx.QueryRowContext(ctx, `SELECT seq, at, entry, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&p.Seq, &at, &p.Entry, &p.Hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			p.At = fromMS(at)
			prev = &p
		}
		for range n {
			r, err := next(prev)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_log (seq, at, entry, hash) VALUES (?, ?, ?, ?)`),
				int64(r.Seq), ms(r.At), string(r.Entry), r.Hash); err != nil {
				return err
			}
			recs = append(recs, r)
			prev = &recs[len(recs)-1]
		}
		return nil
	})
	return recs, err
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
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO audit_checkpoints (seq, checkpoint) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING`),
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
