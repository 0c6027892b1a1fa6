package store

import (
	"context"
	"testing"
	"time"
)

func TestHeartbeatWritesOneRow(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, _ := open(t)
			ctx := context.Background()
			t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			for i := range 3 {
				if err := db.Heartbeat(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			var at int64
			if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(checked_at) FROM readiness`).Scan(&n, &at); err != nil {
				t.Fatal(err)
			}
			if n != 1 || at != t0.Add(2*time.Second).UnixMilli() {
				t.Errorf("readiness: %d rows, last %d; want 1 row at %d", n, at, t0.Add(2*time.Second).UnixMilli())
			}
		})
	}
}
