package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func outboxMsg(key string) OutboxMessage {
	return OutboxMessage{Key: key, EventID: "ev-" + key, Kind: "change.started", Recipient: "carol", Role: "stakeholder",
		Channel: "hook", Event: []byte(`{"kind":"change.started"}`), CreatedAt: t0}
}

func TestOutboxMessagesCommitWithTheirTransactionOrNotAtAll(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		wakes := 0
		db.SetOutboxHook(func() { wakes++ })
		// A mutation that fails takes its messages with it.
		octx := WithOutbox(ctx, NewPendingOutbox(outboxMsg("a")))
		err := db.tx(octx, func(tx *sql.Tx) error { return errors.New("refused") })
		if err == nil {
			t.Fatal("failed transaction committed")
		}
		if got, _ := db.ListOutbox(ctx, OutboxFilter{}); len(got) != 0 {
			t.Fatalf("a failed transaction left messages: %+v", got)
		}
		// One that commits stores them, once, however many transactions the
		// context runs afterwards.
		if err := db.tx(octx, func(tx *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := db.tx(octx, func(tx *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := db.ListOutbox(ctx, OutboxFilter{})
		if err != nil || len(got) != 1 || got[0].Key != "a" || got[0].Status != OutboxPending || got[0].Recipient != "carol" {
			t.Fatalf("outbox after commit: %+v %v", got, err)
		}
		if wakes != 1 {
			t.Errorf("worker woken %d times, want 1", wakes)
		}
		// The same key again (an event observed twice) is not a second message.
		if err := db.EnqueueOutbox(ctx, outboxMsg("a"), outboxMsg("b")); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.ListOutbox(ctx, OutboxFilter{}); len(got) != 2 {
			t.Fatalf("want messages a and b, got %d", len(got))
		}
	})
}

func TestOutboxLeasesRetriesAndDeadLetters(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if err := db.EnqueueOutbox(ctx, outboxMsg("a")); err != nil {
			t.Fatal(err)
		}
		got, err := db.ClaimOutbox(ctx, "w1", t0, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].Attempts != 1 || got[0].Status != OutboxDelivering {
			t.Fatalf("claim: %+v %v", got, err)
		}
		id := got[0].ID
		// Leased: another worker gets nothing until the lease ends.
		if again, _ := db.ClaimOutbox(ctx, "w2", t0.Add(59*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed a leased message: %+v", again)
		}
		// w1 died; after the lease w2 takes it over, and w1's late result is refused.
		taken, _ := db.ClaimOutbox(ctx, "w2", t0.Add(61*time.Second), time.Minute, 10)
		if len(taken) != 1 || taken[0].Attempts != 2 {
			t.Fatalf("take-over after the lease: %+v", taken)
		}
		if err := db.FinishOutbox(ctx, id, "w1", OutboxResult{Delivered: true, At: t0.Add(62 * time.Second)}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a worker that lost its lease finished the message: %v", err)
		}
		// A failure waits for its next attempt.
		if err := db.FinishOutbox(ctx, id, "w2", OutboxResult{NextAt: t0.Add(2 * time.Minute), Error: "502 Bad Gateway"}); err != nil {
			t.Fatal(err)
		}
		if early, _ := db.ClaimOutbox(ctx, "w2", t0.Add(119*time.Second), time.Minute, 10); len(early) != 0 {
			t.Fatalf("claimed before its next attempt: %+v", early)
		}
		third, _ := db.ClaimOutbox(ctx, "w2", t0.Add(2*time.Minute), time.Minute, 10)
		if len(third) != 1 || third[0].Attempts != 3 || third[0].LastError != "502 Bad Gateway" {
			t.Fatalf("third attempt: %+v", third)
		}
		if err := db.FinishOutbox(ctx, id, "w2", OutboxResult{Dead: true, Error: "503 Service Unavailable"}); err != nil {
			t.Fatal(err)
		}
		dead, _ := db.ListOutbox(ctx, OutboxFilter{Status: OutboxDead})
		if len(dead) != 1 || dead[0].LastError != "503 Service Unavailable" {
			t.Fatalf("dead letters: %+v", dead)
		}
		if none, _ := db.ClaimOutbox(ctx, "w2", t0.Add(time.Hour), time.Minute, 10); len(none) != 0 {
			t.Fatalf("claimed a dead letter: %+v", none)
		}
		// Manual retry: pending again, attempts from zero; delivered once.
		if err := db.RetryOutbox(ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RetryOutbox(ctx, id, t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("retry of a pending message: %v, want a conflict", err)
		}
		last, _ := db.ClaimOutbox(ctx, "w3", t0.Add(time.Hour), time.Minute, 10)
		if len(last) != 1 || last[0].Attempts != 1 {
			t.Fatalf("after retry: %+v", last)
		}
		if err := db.FinishOutbox(ctx, id, "w3", OutboxResult{Delivered: true, At: t0.Add(time.Hour + 1500*time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		m, err := db.GetOutbox(ctx, id)
		if err != nil || m.Status != OutboxDelivered || m.DeliveredAt == nil || m.Latency != time.Hour+1500*time.Millisecond || m.LastError != "" {
			t.Fatalf("delivered: %+v %v", m, err)
		}
	})
}

// Two workers claiming at once from one database each get different
// messages: every message is claimed exactly once.
func TestOutboxConcurrentClaimsTakeEachMessageOnce(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		var msgs []OutboxMessage
		for i := range 200 {
			msgs = append(msgs, outboxMsg(fmt.Sprint(i)))
		}
		if err := db.EnqueueOutbox(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := db.ClaimOutbox(ctx, fmt.Sprint("w", w), t0, time.Minute, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						seen[m.Key]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 200 {
			t.Fatalf("claimed %d distinct messages, want 200", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("message %s claimed %d times", k, n)
			}
		}
	})
}

func TestPruneOutboxKeepsWhatIsStillToBeSent(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		old, fresh := outboxMsg("old"), outboxMsg("fresh")
		fresh.CreatedAt = t0.Add(48 * time.Hour)
		delivered := t0
		oldDone := outboxMsg("old-delivered")
		oldDone.Status, oldDone.DeliveredAt = OutboxDelivered, &delivered
		if err := db.EnqueueOutbox(ctx, old, fresh, oldDone); err != nil {
			t.Fatal(err)
		}
		n, err := db.PruneOutbox(ctx, t0.Add(24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the old delivered message only", n, err)
		}
		got, _ := db.ListOutbox(ctx, OutboxFilter{})
		if len(got) != 2 {
			t.Fatalf("left %+v", got)
		}
	})
}
