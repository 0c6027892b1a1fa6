package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Quarantine is a host's enforcement state: quarantined since
// QuarantinedAt until ReleasedAt (nil while it lasts), through the hook
// Hook, for Reason.
type Quarantine struct {
	HostID        string
	QuarantinedAt time.Time
	ReleasedAt    *time.Time
	Hook          string
	Reason        string
}

// Active reports whether the quarantine lasts.
func (q Quarantine) Active() bool { return !q.QuarantinedAt.IsZero() && q.ReleasedAt == nil }

const quarantineCols = `host_id, quarantined_at, released_at, hook, reason`

func scanQuarantine(row interface{ Scan(...any) error }) (Quarantine, error) {
	var q Quarantine
	var at int64
	var rel sql.NullInt64
	if err := row.Scan(&q.HostID, &at, &rel, &q.Hook, &q.Reason); err != nil {
		return Quarantine{}, err
	}
	q.QuarantinedAt, q.ReleasedAt = fromMS(at), fromMSPtr(rel)
	return q, nil
}

// HostQuarantine returns a host's quarantine state; ErrNotFound when it
// was never quarantined.
func (s *DB) HostQuarantine(ctx context.Context, hostID string) (Quarantine, error) {
	q, err := scanQuarantine(s.db.QueryRowContext(ctx, s.q(`SELECT `+quarantineCols+` FROM host_quarantine WHERE host_id = ?`), hostID))
	if errors.Is(err, sql.ErrNoRows) {
		return Quarantine{}, ErrNotFound
	}
	return q, err
}

// Quarantines returns the state of every host ever quarantined, by host.
func (s *DB) Quarantines(ctx context.Context) (map[string]Quarantine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+quarantineCols+` FROM host_quarantine`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Quarantine{}
	for rows.Next() {
		q, err := scanQuarantine(rows)
		if err != nil {
			return nil, err
		}
		out[q.HostID] = q
	}
	return out, rows.Err()
}

// SetQuarantined starts (on) or ends a host's quarantine and stores job,
// its quarantine or release job (ChangeID empty), in one transaction with
// the audit entries and outbox messages ctx carries. It is ErrConflict,
// changing nothing, when the host is already in that state (another
// replica or an earlier pass did it), so each period sends one job each
// way.
func (s *DB) SetQuarantined(ctx context.Context, hostID string, on bool, hook, reason string, job Job, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := scanQuarantine(tx.QueryRowContext(ctx, s.q(`SELECT `+quarantineCols+` FROM host_quarantine WHERE host_id = ?`+s.forUpdate()), hostID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		}
		if cur.Active() == on {
			return ErrConflict
		}
		if on {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO host_quarantine (host_id, quarantined_at, released_at, hook, reason) VALUES (?, ?, NULL, ?, ?)
				ON CONFLICT (host_id) DO UPDATE SET quarantined_at = excluded.quarantined_at, released_at = NULL, hook = excluded.hook, reason = excluded.reason`),
				hostID, ms(now), hook, reason)
		} else {
			_, err = tx.ExecContext(ctx, s.q(`UPDATE host_quarantine SET released_at = ?, reason = ? WHERE host_id = ?`), ms(now), reason, hostID)
		}
		if err != nil {
			return err
		}
		return s.insertJob(ctx, tx, job, now)
	})
}
