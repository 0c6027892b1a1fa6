package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// The durable set of hosts to reconcile (hosts_to_reconcile): a check-in
// that changes what a host carries marks it in its own transaction, other
// callers mark hosts with MarkHostsToReconcile, and the server's worker
// takes marks in batches (HostsToReconcile) and clears each with
// DoneReconciling once the host's reconcile committed. A mark made while
// the worker reconciled the host bumps its generation, so the row stays
// and the host is reconciled again.

// ReconcileMark is one host of the set, with the generation read.
type ReconcileMark struct {
	HostID string
	Gen    int64
}

// markUpsert adds rows "(?, ?, ?)" of (host_id, marked_at, not_before),
// bumping the generation of hosts already marked; a new mark clears a
// failed reconcile's delay.
const markUpsert = ` ON CONFLICT (host_id) DO UPDATE SET gen = hosts_to_reconcile.gen + 1,
	marked_at = excluded.marked_at, not_before = excluded.not_before`

// markToReconcile marks one host inside a check-in's transaction.
func (s *DB) markToReconcile(ctx context.Context, tx *sql.Tx, hostID string, now time.Time) error {
	_, err := s.txExec(ctx, tx, s.q(`INSERT INTO hosts_to_reconcile (host_id, marked_at, not_before) VALUES (?, ?, ?)`+markUpsert),
		hostID, ms(now), ms(now))
	return err
}

// MarkHostsToReconcile adds hosts to the set (or marks them again). IDs of
// hosts that do not exist are skipped.
func (s *DB) MarkHostsToReconcile(ctx context.Context, now time.Time, hostIDs ...string) error {
	for start := 0; start < len(hostIDs); start += batchRows {
		batch := hostIDs[start:min(start+batchRows, len(hostIDs))]
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var b strings.Builder
			b.WriteString(`INSERT INTO hosts_to_reconcile (host_id, marked_at, not_before) SELECT id, ?, ? FROM hosts WHERE id IN (?`)
			b.WriteString(strings.Repeat(`, ?`, len(batch)-1))
			b.WriteString(`)`)
			// The WHERE also keeps SQLite from reading ON CONFLICT as a join.
			b.WriteString(markUpsert)
			args := []any{ms(now), ms(now)}
			for _, id := range batch {
				args = append(args, id)
			}
			_, err := tx.ExecContext(ctx, s.q(b.String()), args...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// HostsToReconcile returns up to limit marks due at now, oldest first.
func (s *DB) HostsToReconcile(ctx context.Context, now time.Time, limit int) ([]ReconcileMark, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT host_id, gen FROM hosts_to_reconcile WHERE not_before <= ?
		ORDER BY marked_at, host_id LIMIT ?`), ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReconcileMark
	for rows.Next() {
		var m ReconcileMark
		if err := rows.Scan(&m.HostID, &m.Gen); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DoneReconciling removes the marks that no one renewed since they were
// read, in one transaction, and says how many it removed. The worker
// clears a run of hosts at once: one commit (one fsync on SQLite) instead
// of one per host; a crash before it only reconciles those hosts again.
func (s *DB) DoneReconciling(ctx context.Context, marks ...ReconcileMark) (int, error) {
	if len(marks) == 0 {
		return 0, nil
	}
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, m := range marks {
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM hosts_to_reconcile WHERE host_id = ? AND gen = ?`), m.HostID, m.Gen)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}

// PutOffReconciling keeps the mark but leaves it out of HostsToReconcile
// until the given time, after its reconcile failed. A new mark clears it.
func (s *DB) PutOffReconciling(ctx context.Context, m ReconcileMark, until time.Time) error {
	_, err := s.wdb.ExecContext(ctx, s.q(`UPDATE hosts_to_reconcile SET not_before = ? WHERE host_id = ? AND gen = ?`), ms(until), m.HostID, m.Gen)
	return err
}

// CountHostsToReconcile says how many hosts the set holds.
func (s *DB) CountHostsToReconcile(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM hosts_to_reconcile`).Scan(&n)
	return n, err
}
