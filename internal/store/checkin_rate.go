package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MaxNewVersionsPerHour bounds how many package versions the server does
// not yet hold one host may add per hour after its first inventory. A
// release upgrade of a large server (Debian 12 → 13, RHEL 9 → 10) replaces
// 2,000 to 6,000 packages at once, and most of those versions are already
// held when the second host of a fleet upgrades; an agent that invents
// versions is held to this rate.
//
// It is a token bucket kept as a debt: each new version adds one to the
// host's debt, which is paid back at this rate. A check-in passes when its
// new versions fit under the limit together with the debt, or when the
// host owes nothing (so one check-in larger than the limit, up to the
// protocol's 50,000 packages, can still pass, and is then paid back over
// the hours after it).
const MaxNewVersionsPerHour = 10000

// CheckinRateError refuses a check-in that adds more new package versions
// than the host may add now. Nothing of the check-in is stored.
type CheckinRateError struct {
	New     int       // versions the check-in adds that the server did not hold
	Allowed int       // how many the host may add now
	Limit   int       // MaxNewVersionsPerHour
	RetryAt time.Time // when the same check-in fits
}

func (e *CheckinRateError) Error() string {
	return fmt.Sprintf("check-in refused: it adds %d package versions the server does not hold, and a host may add at most %d an hour after its first inventory (%d now); it fits from %s",
		e.New, e.Limit, e.Allowed, e.RetryAt.UTC().Format(time.RFC3339))
}

const hourMS = int64(time.Hour / time.Millisecond)

// chargeNewVersions charges a host for n new package versions, or refuses
// the check-in with a *CheckinRateError. The caller holds the host's row
// lock (ApplyCheckin reads it FOR UPDATE).
func (s *DB) chargeNewVersions(ctx context.Context, tx *sql.Tx, hostID string, n int, now time.Time) error {
	var debt, at int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT new_versions_debt, new_versions_at FROM hosts WHERE id = ?`), hostID).Scan(&debt, &at); err != nil {
		return err
	}
	const limit = int64(MaxNewVersionsPerHour)
	if elapsed := ms(now) - at; elapsed > 0 {
		debt = max(0, debt-elapsed*limit/hourMS)
	}
	allowed := max(0, limit-debt)
	if int64(n) > allowed && debt > 0 {
		// Fits once the debt is down to limit-n (or to nothing, for a
		// check-in larger than the limit).
		owe := debt - max(0, limit-int64(n))
		wait := (owe*hourMS + limit - 1) / limit
		return &CheckinRateError{New: n, Allowed: int(allowed), Limit: int(limit), RetryAt: now.Add(time.Duration(wait) * time.Millisecond)}
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET new_versions_debt = ?, new_versions_at = ? WHERE id = ?`), debt+int64(n), ms(now), hostID)
	return err
}
