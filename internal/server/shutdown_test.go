package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// TestShutdownWaitsForRequestsAndLoopsBeforeTheStoreCloses: when the
// server's context ends (SIGTERM in `patchbay server`), a request already
// being read is answered in full, a background task still running gets to
// write, and only then does Serve return, so the caller may close the
// database. The request is known to be in its handler because the server
// asked for its body (100 Continue); its body is sent only after the
// shutdown began.
func TestShutdownWaitsForRequestsAndLoopsBeforeTheStoreCloses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	s, db, id, ln := newServeTest(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ctx, ln) }()

	// A background task that is still busy when the context ends and
	// writes to the store after that.
	release, taskWrote := make(chan struct{}), make(chan error, 1)
	waitForReady(t, ln.Addr().String(), id)
	s.spawn(func(ctx context.Context) {
		<-ctx.Done()
		<-release
		taskWrote <- db.Heartbeat(context.Background(), time.Now())
	})

	// A sign-in whose body the client holds back until the shutdown began.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "https://"+ln.Addr().String()+"/api/v1/auth/login", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	inHandler := make(chan struct{})
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got100Continue: func() { close(inHandler) },
	}))
	client := tlsClient(id)
	resc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			errc <- err
			return
		}
		resc <- resp
	}()
	select {
	case <-inHandler:
	case err := <-errc:
		t.Fatalf("sign-in request: %v", err)
	}
	cancel() // what SIGTERM does in `patchbay server`
	pw.Write([]byte(`{"username":"nobody","password":"wrong password"}`))
	pw.Close()
	select {
	case resp := <-resc:
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the sign-in in flight during the shutdown got %d, want 401", resp.StatusCode)
		}
	case err := <-errc:
		t.Fatalf("the request in flight during the shutdown failed: %v", err)
	}
	select {
	case err := <-serveErr:
		t.Fatalf("Serve returned (%v) while a background task was still running", err)
	default:
	}
	close(release)
	if err := <-taskWrote; err != nil {
		t.Errorf("the background task could not write during the shutdown: %v", err)
	}
	if err := <-serveErr; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("close the store after Serve returned: %v", err)
	}
	// The listener is closed: no new connections.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the server still accepts connections after Serve returned")
	}
}

// newServeTest bootstraps a new data directory for cfg (no feed sources),
// opens its SQLite store and makes a server on it with a listener on a
// free loopback port, for the tests of Serve. Serving and closing the
// store are the test's.
func newServeTest(t *testing.T, cfg Config) (*Server, *store.DB, Identity, net.Listener) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.FeedSources = nil
	id, err := Bootstrap(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(cfg.DataDir, "patchbay.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, db, id, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return s, db, id, ln
}

func tlsClient(id Identity) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: id.CA.Pool(), ServerName: "localhost"},
		ExpectContinueTimeout: time.Minute,
	}}
}

// waitForReady waits until the server answers /healthz.
func waitForReady(t *testing.T, addr string, id Identity) {
	t.Helper()
	c := tlsClient(id)
	for range 500 {
		resp, err := c.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server on %s did not answer", addr)
}
