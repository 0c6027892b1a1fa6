package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SetFlagWithdrawingJobs sets a flag and, when it is turned on, withdraws
// every job of every change not yet delivered, in one transaction: once
// the emergency stop is recorded, no job that was waiting goes out.
// It returns how many jobs it withdrew.
func (s *DB) SetFlagWithdrawingJobs(ctx context.Context, f Flag) (int, error) {
	withdrawn := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO flags (name, is_on, set_by, set_at, note) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET is_on = excluded.is_on, set_by = excluded.set_by, set_at = excluded.set_at, note = excluded.note`),
			f.Name, f.On, f.By, ms(f.At), f.Note); err != nil {
			return err
		}
		if !f.On {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'withdrawn' WHERE status = 'pending'`)
		if err != nil {
			return fmt.Errorf("withdraw jobs: %w", err)
		}
		n, err := res.RowsAffected()
		withdrawn = int(n)
		return err
	})
	return withdrawn, err
}

// OutJobs returns a change's jobs that were delivered and have not
// reported yet, by host: what is still out after a halt.
func (s *DB) OutJobs(ctx context.Context, changeID string) ([]Job, error) {
	return s.queryJobs(ctx, `SELECT id, change_id, host_id, phase, seq, '', status, result, created_at, delivered_at, finished_at
		FROM jobs WHERE change_id = ? AND status = 'delivered' ORDER BY host_id, seq`, changeID)
}
