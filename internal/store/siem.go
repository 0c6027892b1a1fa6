package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// The SIEM stream keeps its state in two rows of the flags table (no
// schema of its own): the cursor, the sequence number of the last audit
// entry written and flushed to the receiver (in note), and the lease
// that lets one replica stream (its holder in set_by, its expiry in
// set_at). Both rows stay off (is_on false), so no switch reads them.
const (
	siemCursorFlag = "siem.cursor"
	siemLeaseFlag  = "siem.lease"
)

// ErrSIEMCursorMoved is AdvanceSIEMCursor finding a cursor other than the
// one it was given: another replica streamed meanwhile.
var ErrSIEMCursorMoved = errors.New("the SIEM cursor moved")

// SIEMCursor returns the sequence number of the last audit entry the SIEM
// stream delivered (0: none yet).
func (s *DB) SIEMCursor(ctx context.Context) (uint64, error) {
	f, err := s.GetFlag(ctx, siemCursorFlag)
	if err != nil || f.Note == "" {
		return 0, err
	}
	return strconv.ParseUint(f.Note, 10, 64)
}

// AdvanceSIEMCursor moves the cursor from from to to, only if it is still
// at from (ErrSIEMCursorMoved otherwise).
func (s *DB) AdvanceSIEMCursor(ctx context.Context, from, to uint64, at time.Time) error {
	cur, alt := strconv.FormatUint(from, 10), strconv.FormatUint(from, 10)
	if from == 0 {
		alt = "" // no cursor written yet
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO flags (name, is_on, set_by, set_at, note) VALUES (?, ?, 'siem', ?, ?)
		ON CONFLICT (name) DO UPDATE SET set_at = excluded.set_at, note = excluded.note
		WHERE flags.note = ? OR flags.note = ?`),
		siemCursorFlag, false, ms(at), strconv.FormatUint(to, 10), cur, alt)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrSIEMCursorMoved
	}
	return nil
}

// TakeSIEMLease gives holder the SIEM stream until now+ttl, when no other
// holder has an unexpired lease; it reports whether holder has it.
// Renewing is taking it again before it expires.
func (s *DB) TakeSIEMLease(ctx context.Context, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO flags (name, is_on, set_by, set_at, note) VALUES (?, ?, ?, ?, '')
		ON CONFLICT (name) DO UPDATE SET set_by = excluded.set_by, set_at = excluded.set_at
		WHERE flags.set_by = excluded.set_by OR flags.set_at < ?`),
		siemLeaseFlag, false, holder, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
