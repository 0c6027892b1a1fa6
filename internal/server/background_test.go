package server

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeReturnsOnlyAfterBackgroundWorkEnded: the caller closes the store
// when Serve returns, so every background loop and task must have ended by
// then, including one still writing when shutdown began.
func TestServeReturnsOnlyAfterBackgroundWorkEnded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EngineInterval = 10 * time.Millisecond
	s, db, id, ln := newServeTest(t, cfg)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var finished atomic.Bool
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	// The listener queues this request until Serve has started its loops
	// and accepts, so once it is answered the background context is set.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: id.CA.Pool(), ServerName: "localhost"}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	// A task that is still busy for a while after shutdown begins, as a
	// dashboard refresh or a webhook post can be.
	s.spawn(func(bctx context.Context) {
		close(started)
		<-bctx.Done()
		time.Sleep(100 * time.Millisecond)
		finished.Store(true)
	})
	<-started
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30 s of its context ending")
	}
	if !finished.Load() {
		t.Fatal("Serve returned while background work was still running; the store would be closed under it")
	}
}
