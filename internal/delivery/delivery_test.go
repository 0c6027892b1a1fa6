package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newWorker returns a worker over db whose guard allows allow, trusting
// srv's certificate when srv is not nil.
func newWorker(t *testing.T, db *store.DB, clk *clock, srv *httptest.Server, allow ...string) *Worker {
	t.Helper()
	sealer, err := NewSealer([]byte("test job key seed"))
	if err != nil {
		t.Fatal(err)
	}
	g := Guard{}
	for _, a := range allow {
		g.Allow = append(g.Allow, netip.MustParsePrefix(a))
	}
	client := g.Client(5*time.Second, nil)
	if srv != nil {
		client = g.Client(5*time.Second, srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
	}
	return &Worker{Outbox: db, Sealer: sealer, Client: client, Guard: g, Now: clk.now, Log: slog.New(slog.DiscardHandler),
		Owner: "test", ConsoleURL: "https://pb.example.com", Retry: notify.Retry{Base: 10 * time.Second, Max: time.Minute, Attempts: 4},
		Lease: time.Minute, Poll: time.Second, Batch: 50, Jitter: func() float64 { return 0 }}
}

func addChannel(t *testing.T, db *store.DB, w *Worker, name, kind string, cfg ChannelConfig) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	if err := db.PutNotifyChannel(context.Background(), store.NotifyChannel{Name: name, Kind: kind, Sealed: w.Sealer.Seal(name, b)}); err != nil {
		t.Fatal(err)
	}
}

func enqueue(t *testing.T, db *store.DB, at time.Time, channel string, ev notify.Event) store.OutboxMessage {
	t.Helper()
	d := notify.Delivery{Recipient: "carol", Role: "stakeholder", Channel: channel}
	b, _ := json.Marshal(ev)
	m := store.OutboxMessage{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: d.Recipient, Role: d.Role,
		Channel: channel, Event: b, CreatedAt: at}
	if err := db.EnqueueOutbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListOutbox(context.Background(), store.OutboxFilter{Channel: channel, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("enqueued: %+v %v", got, err)
	}
	return got[0]
}

// receiver is a webhook receiver as its owner would write it: it checks
// the signature (HMAC-SHA256 of "t.body" with the shared secret, written
// out here) and that the timestamp is within 5 minutes of its clock,
// fails the first failFirst valid requests, and counts deliveries by
// idempotency key.
type receiver struct {
	secret    string
	now       func() time.Time
	failFirst int32
	calls     atomic.Int32
	mu        sync.Mutex
	delivered map[string]int
	bad       []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig := r.Header.Get("X-Patchbay-Signature")
	var ts, v1 string
	for _, p := range strings.Split(sig, ",") {
		if v, ok := strings.CutPrefix(p, "t="); ok {
			ts = v
		}
		if v, ok := strings.CutPrefix(p, "v1="); ok {
			v1 = v
		}
	}
	m := hmac.New(sha256.New, []byte(rc.secret))
	m.Write([]byte(ts + "." + string(body)))
	sec, _ := strconv.ParseInt(ts, 10, 64)
	age := rc.now().Sub(time.Unix(sec, 0))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(m.Sum(nil)))) || age > 5*time.Minute || age < -5*time.Minute {
		rc.bad = append(rc.bad, sig)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.calls.Add(1) <= rc.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var p struct {
		Schema string `json:"schema"`
		Key    string `json:"idempotency_key"`
	}
	json.Unmarshal(body, &p)
	if p.Schema != "patchbay.notification/v1" || p.Key != r.Header.Get("Idempotency-Key") {
		rc.bad = append(rc.bad, string(body))
	}
	rc.delivered[p.Key]++
	w.WriteHeader(http.StatusNoContent)
}

var ev = notify.Event{ID: "c1:4", Kind: notify.ChangeStarted, At: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
	Subject: "Change openssl started", Text: "12 hosts in 3 waves", Link: "/changes/c1", Change: "c1", Groups: []string{"web-prod"}}

func TestWebhookFailingTheFirstAttemptsIsRetriedThenDeliveredOnce(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	rc := &receiver{secret: "whsec_1", now: clk.now, failFirst: 2, delivered: map[string]int{}}
	srv := httptest.NewTLSServer(rc)
	t.Cleanup(srv.Close)
	w := newWorker(t, db, clk, srv, "127.0.0.1/32")
	addChannel(t, db, w, "hook", KindWebhook, ChannelConfig{URL: srv.URL + "/patchbay", Secret: "whsec_1"})
	m := enqueue(t, db, clk.now(), "hook", ev)

	// Attempt 1 fails; the next waits 5 s (10 s base, no jitter: half).
	steps := []struct {
		advance  time.Duration
		attempts int
		status   string
	}{
		{0, 1, store.OutboxPending},
		{4 * time.Second, 1, store.OutboxPending}, // not due yet
		{time.Second, 2, store.OutboxPending},     // 5 s: attempt 2 fails, next in 10 s
		{10 * time.Second, 3, store.OutboxDelivered},
		{time.Hour, 3, store.OutboxDelivered}, // never again
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetOutbox(ctx, m.ID)
		if err != nil || got.Attempts != s.attempts || got.Status != s.status {
			t.Fatalf("step %d: %s after %d attempts (%s), want %s after %d", i, got.Status, got.Attempts, got.LastError, s.status, s.attempts)
		}
	}
	got, _ := db.GetOutbox(ctx, m.ID)
	if got.Latency != 15*time.Second || got.LastError != "" {
		t.Errorf("delivered after %s, last error %q; want 15s and none", got.Latency, got.LastError)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("receiver refused: %q", rc.bad)
	}
	if len(rc.delivered) != 1 || rc.delivered[m.Key] != 1 {
		t.Errorf("deliveries by key: %v, want one of %s", rc.delivered, m.Key)
	}
}

func TestWebhookIsDeadLetteredAfterTheLastAttemptAndRetriedByHand(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	rc := &receiver{secret: "whsec_2", now: clk.now, failFirst: 4, delivered: map[string]int{}}
	srv := httptest.NewTLSServer(rc)
	t.Cleanup(srv.Close)
	w := newWorker(t, db, clk, srv, "127.0.0.1/32")
	addChannel(t, db, w, "hook", KindWebhook, ChannelConfig{URL: srv.URL, Secret: "whsec_2"})
	m := enqueue(t, db, clk.now(), "hook", ev)
	for range 4 {
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Hour)
	}
	got, _ := db.GetOutbox(ctx, m.ID)
	if got.Status != store.OutboxDead || got.Attempts != 4 || got.LastError != "receiver answered 503 Service Unavailable: try later" {
		t.Fatalf("after 4 failures: %s, %d attempts, %q", got.Status, got.Attempts, got.LastError)
	}
	if n, _ := w.Step(ctx); n != 0 {
		t.Fatalf("a dead letter was attempted again (%d)", n)
	}
	if err := db.RetryOutbox(ctx, m.ID, clk.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetOutbox(ctx, m.ID); got.Status != store.OutboxDelivered || got.Attempts != 1 {
		t.Fatalf("after a manual retry: %s, %d attempts", got.Status, got.Attempts)
	}
	if rc.delivered[m.Key] != 1 {
		t.Errorf("deliveries: %v", rc.delivered)
	}
}

// A Slack-compatible receiver that checks the payload as Slack documents
// incoming webhooks with Block Kit: JSON, a text fallback, at most 50
// blocks, a header of plain_text at most 150 characters, sections of at
// most 3000, button URLs at most 3000.
func TestSlackReceivesABlockKitMessage(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	var problems []string
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/services/T000/B000/XXXX" {
			problems = append(problems, "content type or path")
		}
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text *struct {
					Type, Text string
				} `json:"text"`
				Elements []struct {
					Type string `json:"type"`
					URL  string `json:"url"`
					Text any    `json:"text"`
				} `json:"elements"`
			} `json:"blocks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			problems = append(problems, err.Error())
		}
		if msg.Text == "" || len(msg.Blocks) == 0 || len(msg.Blocks) > 50 {
			problems = append(problems, "text or blocks")
		}
		var types []string
		for _, b := range msg.Blocks {
			types = append(types, b.Type)
			switch b.Type {
			case "header":
				if b.Text == nil || b.Text.Type != "plain_text" || len([]rune(b.Text.Text)) > 150 {
					problems = append(problems, "header")
				}
			case "section":
				if b.Text == nil || (b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text") || len([]rune(b.Text.Text)) > 3000 {
					problems = append(problems, "section")
				}
			case "actions":
				for _, e := range b.Elements {
					if e.Type != "button" || e.URL != "https://pb.example.com/changes/c1" {
						problems = append(problems, "button "+e.URL)
					}
				}
			}
		}
		if strings.Join(types, ",") != "header,section,context,actions" {
			problems = append(problems, "blocks "+strings.Join(types, ","))
		}
		got.Add(1)
		io.WriteString(w, "ok") // Slack answers 200 "ok"
	}))
	t.Cleanup(srv.Close)
	w := newWorker(t, db, clk, srv, "127.0.0.1/32")
	addChannel(t, db, w, "slack", KindSlack, ChannelConfig{URL: srv.URL + "/services/T000/B000/XXXX"})
	long := ev
	long.Subject = strings.Repeat("s", 400)
	long.Text = strings.Repeat("t", 5000)
	m := enqueue(t, db, clk.now(), "slack", long)
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.GetOutbox(ctx, m.ID); s.Status != store.OutboxDelivered || got.Load() != 1 || len(problems) > 0 {
		t.Fatalf("%s (%s), %d requests, problems %q", s.Status, s.LastError, got.Load(), problems)
	}
}

// The SSRF corpus: with the allow-list off, none of these reaches the
// listener on loopback, and the delivery log says why.
func TestOutboundRequestsToInternalAddressesAreRefusedAndLogged(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// A redirecting receiver on another loopback address, which the admin
	// allowed: its redirect to the listener is not followed.
	rl, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	redirector := &httptest.Server{Listener: rl, Config: &http.Server{Handler: http.RedirectHandler("http://127.0.0.1:"+port+"/", http.StatusFound)}}
	redirector.Start()
	t.Cleanup(redirector.Close)

	corpus := []struct{ url, why string }{
		{"http://127.0.0.1:" + port + "/", "127.0.0.1 is loopback"},
		{"http://[::1]:" + port + "/", "::1 is loopback"},
		{"http://[::ffff:127.0.0.1]:" + port + "/", "127.0.0.1 is loopback"},
		{"http://[::ffff:7f00:1]:" + port + "/", "127.0.0.1 is loopback"},
		{"http://2130706433:" + port + "/", `host "2130706433" is IP address 127.0.0.1 written in an unusual form`},
		{"http://0177.0.0.1:" + port + "/", `host "0177.0.0.1" is IP address 127.0.0.1 written in an unusual form`},
		{"http://0x7f.0.0.1:" + port + "/", `host "0x7f.0.0.1" is IP address 127.0.0.1 written in an unusual form`},
		{"http://0x7f000001:" + port + "/", `host "0x7f000001" is IP address 127.0.0.1 written in an unusual form`},
		{"http://127.1:" + port + "/", `host "127.1" is IP address 127.0.0.1 written in an unusual form`},
		{"http://localhost:" + port + "/", "is loopback"},
		{"http://10.1.2.3:" + port + "/", "10.1.2.3 is private (RFC 1918)"},
		{"http://172.16.0.9/", "172.16.0.9 is private (RFC 1918)"},
		{"http://192.168.1.1/", "192.168.1.1 is private (RFC 1918)"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is the cloud metadata service"},
		{"http://169.254.10.1/", "169.254.10.1 is link-local"},
		{"http://[fe80::1]/", "fe80::1 is link-local"},
		{"http://[fd00::1]/", "fd00::1 is unique local"},
		{"http://0.0.0.0:" + port + "/", `0.0.0.0 is "this network"`},
		{"ftp://127.0.0.1:" + port + "/", `scheme "ftp": only http and https`},
		{"file:///etc/passwd", `scheme "file": only http and https`},
		{"http://user:pw@example.com/", "credentials in the URL"},
		{redirector.URL + "/", "redirect not followed"},
	}
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)}
	w := newWorker(t, db, clk, nil, "127.0.0.2/32")
	var msgs []store.OutboxMessage
	for i, c := range corpus {
		name := fmt.Sprintf("c%02d", i)
		addChannel(t, db, w, name, KindWebhook, ChannelConfig{URL: c.url, Secret: "s"})
		msgs = append(msgs, enqueue(t, db, clk.now(), name, ev))
	}
	if n, err := w.Step(ctx); err != nil || n != len(corpus) {
		t.Fatalf("attempted %d of %d: %v", n, len(corpus), err)
	}
	for i, c := range corpus {
		got, _ := db.GetOutbox(ctx, msgs[i].ID)
		if got.Status != store.OutboxPending || !strings.Contains(got.LastError, c.why) {
			t.Errorf("%s: %s, delivery log says %q; want it to say %q", c.url, got.Status, got.LastError, c.why)
		}
		if strings.Contains(got.LastError, "user:pw") {
			t.Errorf("%s: the delivery log shows the URL's credentials: %q", c.url, got.LastError)
		}
	}
	time.Sleep(100 * time.Millisecond) // let an accept that raced the checks be counted
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the loopback listener saw %d connections", n)
	}
}

func TestGuardAllowsPublicAddressesAndTheAllowList(t *testing.T) {
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	for addr, ok := range map[string]bool{"93.184.215.14": true, "2606:4700::1111": true, "10.20.3.4": true, "10.21.0.1": false,
		"::ffff:10.20.3.4": true, "100.64.0.1": false, "224.0.0.1": false} {
		if err := g.CheckAddr(netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("CheckAddr(%s) = %v, want allowed=%t", addr, err, ok)
		}
	}
}

func TestSealedConfigurationOpensOnlyForItsChannelAndKey(t *testing.T) {
	a, _ := NewSealer([]byte("seed one"))
	b, _ := NewSealer([]byte("seed two"))
	sealed := a.Seal("hook", []byte(`{"url":"https://x","secret":"s"}`))
	if strings.Contains(string(sealed), "secret") {
		t.Fatal("sealed text shows the plain text")
	}
	if got, err := a.Open("hook", sealed); err != nil || string(got) != `{"url":"https://x","secret":"s"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := a.Open("other", sealed); err == nil {
		t.Error("opened under another channel's name")
	}
	if _, err := b.Open("hook", sealed); err == nil {
		t.Error("opened with another key")
	}
}
