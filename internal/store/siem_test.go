package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSIEMCursorAndLease(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
		if c, err := db.SIEMCursor(ctx); err != nil || c != 0 {
			t.Fatalf("fresh cursor = %d, %v; want 0", c, err)
		}
		if err := db.AdvanceSIEMCursor(ctx, 0, 7, now); err != nil {
			t.Fatal(err)
		}
		if err := db.AdvanceSIEMCursor(ctx, 3, 9, now); !errors.Is(err, ErrSIEMCursorMoved) {
			t.Fatalf("advance from a stale cursor: %v, want ErrSIEMCursorMoved", err)
		}
		if err := db.AdvanceSIEMCursor(ctx, 7, 12, now); err != nil {
			t.Fatal(err)
		}
		if c, err := db.SIEMCursor(ctx); err != nil || c != 12 {
			t.Fatalf("cursor = %d, %v; want 12", c, err)
		}
		if f, _ := db.GetFlag(ctx, "siem.cursor"); f.On {
			t.Fatal("the cursor row must stay off")
		}

		take := func(holder string, at time.Time) bool {
			ok, err := db.TakeSIEMLease(ctx, holder, at, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", now) {
			t.Fatal("a could not take a free lease")
		}
		if take("b", now.Add(10*time.Second)) {
			t.Fatal("b took a's unexpired lease")
		}
		if !take("a", now.Add(20*time.Second)) { // renew: now until +50s
			t.Fatal("a could not renew")
		}
		if take("b", now.Add(45*time.Second)) {
			t.Fatal("b took a's renewed lease")
		}
		if !take("b", now.Add(51*time.Second)) {
			t.Fatal("b could not take an expired lease")
		}
	})
}
