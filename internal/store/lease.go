package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Leases let several server replicas on one database run each singleton
// loop (feed sync, exception expiry) on one replica at a time. A lease is
// a row: its holder (one server process), when it expires, and a fencing
// token that grows at each take-over by another holder. Writes made on
// behalf of a lease name its token and change nothing once another holder
// took the lease over (ClaimRun).

// TakeLease takes the lease name for holder until now+ttl, or renews it
// when holder holds it already. It returns the lease's fencing token, and
// ok false (with no error) while another holder's lease has not expired.
// A take-over by another holder increments the token; a renewal keeps it.
func (s *DB) TakeLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (token int64, ok bool, err error) {
	err = s.wdb.QueryRowContext(ctx, s.q(`INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET
			token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
			holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING token`), name, holder, ms(now.Add(ttl)), ms(now)).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return token, true, nil
}

// RenewLease extends the lease holder holds with token until now+ttl. It
// says false when the lease was taken over (or released) meanwhile.
func (s *DB) RenewLease(ctx context.Context, name, holder string, token int64, ttl time.Duration, now time.Time) (bool, error) {
	res, err := s.wdb.ExecContext(ctx, s.q(`UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?`),
		ms(now.Add(ttl)), name, holder, token)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLease ends holder's lease at once (a server stopping), so another
// replica takes it over at its next try instead of after the lease's TTL.
// It does nothing when holder does not hold the lease.
func (s *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.wdb.ExecContext(ctx, s.q(`UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?`), name, holder)
	return err
}

// ClaimRun claims the run of the lease's loop that is due when the last
// claimed run is at least every old: it records now as the last run and
// says true, or says false when the last run is more recent or the token
// is no longer the lease's (fenced: another holder took the lease over).
// One run per interval is claimed across all replicas, whatever their
// leases did meanwhile.
func (s *DB) ClaimRun(ctx context.Context, name string, token int64, every time.Duration, now time.Time) (bool, error) {
	res, err := s.wdb.ExecContext(ctx, s.q(`UPDATE leases SET ran_at = ? WHERE name = ? AND token = ? AND ran_at <= ?`),
		ms(now), name, token, ms(now.Add(-every)))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Lease is a lease's row.
type Lease struct {
	Name, Holder string
	Token        int64
	ExpiresAt    time.Time
	RanAt        time.Time
}

// GetLease returns the lease name; ErrNotFound when it was never taken.
func (s *DB) GetLease(ctx context.Context, name string) (Lease, error) {
	l := Lease{Name: name}
	var exp, ran int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT holder, token, expires_at, ran_at FROM leases WHERE name = ?`), name).
		Scan(&l.Holder, &l.Token, &exp, &ran)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	l.ExpiresAt, l.RanAt = fromMS(exp), fromMS(ran)
	return l, err
}

// AdvisoryGeneration is a counter every write to the advisories table
// increments in the writer's transaction (a trigger): when it changed,
// some advisory was added, changed or removed, possibly by another
// replica.
func (s *DB) AdvisoryGeneration(ctx context.Context) (int64, error) {
	var g int64
	err := s.db.QueryRowContext(ctx, `SELECT gen FROM advisory_generation WHERE id = 1`).Scan(&g)
	return g, err
}

// AdvisoryHashes returns every stored advisory's content hash by ID (the
// SHA-256 of its data), for a replica to find what changed.
func (s *DB) AdvisoryHashes(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, hash FROM advisories`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, h string
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		out[id] = h
	}
	return out, rows.Err()
}

// AdvisoryDataOf calls fn with the data and content hash of each of the
// advisories ids that is stored.
func (s *DB) AdvisoryDataOf(ctx context.Context, ids []string, fn func(id, hash string, data []byte) error) error {
	for start := 0; start < len(ids); start += batchRows {
		batch := ids[start:min(start+batchRows, len(ids))]
		args := make([]any, len(batch))
		marks := make([]byte, 0, 2*len(batch))
		for i, id := range batch {
			args[i] = id
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, hash, data FROM advisories WHERE id IN (`+string(marks)+`)`), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, h string
			var data []byte
			if err := rows.Scan(&id, &h, &data); err != nil {
				rows.Close()
				return err
			}
			if err := fn(id, h, data); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ClaimHostsToReconcile is HostsToReconcile for several replicas draining
// one set: it takes up to limit due marks, oldest first, that no other
// replica claimed, and puts them off until now+hold, so the others skip
// them while this one reconciles. DoneReconciling clears them as usual; a
// mark made meanwhile (a check-in) makes the host due again at once, and
// the marks of a replica that died are due again after hold.
func (s *DB) ClaimHostsToReconcile(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]ReconcileMark, error) {
	skip := ""
	if s.dialect == Postgres {
		skip = " FOR UPDATE SKIP LOCKED" // replicas claiming at once take different hosts
	}
	rows, err := s.wdb.QueryContext(ctx, s.q(`UPDATE hosts_to_reconcile SET not_before = ?
		WHERE not_before <= ? AND host_id IN (SELECT host_id FROM hosts_to_reconcile WHERE not_before <= ?
			ORDER BY marked_at, host_id LIMIT ?`+skip+`)
		RETURNING host_id, gen`), ms(now.Add(hold)), ms(now), ms(now), limit)
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

// LatestOrgRevision is the newest applied organisation's revision, 0
// before the first apply: a replica compares it with the one it holds.
func (s *DB) LatestOrgRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) FROM org_revisions`).Scan(&rev)
	return rev, err
}
