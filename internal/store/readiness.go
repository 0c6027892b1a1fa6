package store

import (
	"context"
	"time"
)

// Heartbeat writes the readiness row: a small real write, so a caller can
// tell that the database takes writes, not only reads.
func (s *DB) Heartbeat(ctx context.Context, now time.Time) error {
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO readiness (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`), ms(now))
	return err
}
