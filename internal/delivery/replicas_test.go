package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/testenv"
)

// Two replicas (two stores, two workers) on one PostgreSQL database deliver
// each of 1,000 notifications exactly once to one receiver.
func TestTwoReplicasOnPostgreSQLDeliverEachMessageOnce(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.FreshPostgres(t, testenv.Postgres(t))
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	var workers []*Worker
	for i := range 2 {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		w := newWorker(t, db, clk, srv, "127.0.0.1/32")
		w.Owner, w.Batch = fmt.Sprintf("replica-%d", i), 25
		workers = append(workers, w)
		if i == 0 {
			b, _ := json.Marshal(ChannelConfig{URL: srv.URL, Secret: "s"})
			if err := db.PutNotifyChannel(ctx, store.NotifyChannel{Name: "hook", Kind: KindWebhook, Sealed: w.Sealer.Seal("hook", b)}); err != nil {
				t.Fatal(err)
			}
			var msgs []store.OutboxMessage
			for n := range 1000 {
				ev := notify.Event{ID: fmt.Sprint("e", n), Kind: notify.HostStale, At: clk.now(), Subject: "s"}
				d := notify.Delivery{Recipient: "alice", Role: "sysadmin", Channel: "hook"}
				b, _ := json.Marshal(ev)
				msgs = append(msgs, store.OutboxMessage{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: d.Recipient,
					Role: d.Role, Channel: d.Channel, Event: b, CreatedAt: clk.now()})
			}
			if err := db.EnqueueOutbox(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	attempted := make([]int, 2)
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := w.Step(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
				attempted[i] += n
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1000 {
		t.Fatalf("receiver got %d distinct messages, want 1000", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("message %s delivered %d times", k, n)
		}
	}
	if attempted[0] == 0 || attempted[1] == 0 || attempted[0]+attempted[1] != 1000 {
		t.Errorf("replicas attempted %v; want both to share the 1,000", attempted)
	}
	t.Logf("replica 0 delivered %d, replica 1 %d", attempted[0], attempted[1])
}
