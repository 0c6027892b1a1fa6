package delivery

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// testCert returns a certificate for 127.0.0.1, self-signed, and a pool
// trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// mailbox is an SMTP server's backend as a mail provider runs it: mail is
// accepted only from a signed-in account (AUTH PLAIN, over TLS), and what
// arrives is recorded.
type mailbox struct {
	user, password string
	mu             sync.Mutex
	got            []received
	sessions       int
}

type received struct {
	from  string
	rcpts []string
	data  []byte
	tls   bool
	authd string
}

func (mb *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	mb.mu.Lock()
	mb.sessions++
	mb.mu.Unlock()
	return &session{mb: mb, conn: c}, nil
}

type session struct {
	mb   *mailbox
	conn *smtp.Conn
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.mb.user || password != s.mb.password {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.cur = received{from: from, tls: tlsOn, authd: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.mb.mu.Lock()
	s.mb.got = append(s.mb.got, s.cur)
	s.mb.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// startSMTP serves mb on loopback: STARTTLS on a plain listener when
// implicit is false, TLS from the first byte when true, no TLS at all
// when cert is nil. It returns the server's host:port.
func startSMTP(t *testing.T, mb *mailbox, cert *tls.Certificate, implicit bool) string {
	t.Helper()
	srv := smtp.NewServer(mb)
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	switch {
	case cert != nil && implicit:
		l, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	default:
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if cert != nil {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		} else {
			srv.AllowInsecureAuth = true // a server that offers no STARTTLS: the client must refuse it
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// emailWorker is a worker with an email channel to addr, whose guard
// allows loopback and which trusts roots.
func emailWorker(t *testing.T, db *store.DB, clk *clock, roots *x509.CertPool, url string) *Worker {
	t.Helper()
	w := newWorker(t, db, clk, nil, "127.0.0.1/32")
	w.Roots = roots
	addChannel(t, db, w, "email", KindEmail, ChannelConfig{URL: url, Username: "patchbay", Password: "s3cret pass", From: "patchbay@example.com"})
	return w
}

func addUser(t *testing.T, db *store.DB, name, email string) {
	t.Helper()
	if _, err := db.CreateUser(context.Background(), store.User{ID: "id-" + name, Username: name, PasswordHash: "x", Role: "stakeholder",
		Email: email, CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}

var scheduledEvent = notify.Event{ID: "c1:3", Kind: notify.ChangeScheduled, At: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
	Subject: `Change "openssl" is scheduled`, Text: "Change c1 (openssl) went from pending-approval to scheduled: approved by dave",
	Link: "/changes/c1", Change: "c1", Groups: []string{"payments-prod"}, Author: "erin", Actor: "dave",
	Schedule: &notify.Schedule{Start: time.Date(2026, 12, 8, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 9, 2, 0, 0, 0, time.UTC),
		Detail: "Its first wave runs in window nightly."}}

func TestEmailOverSTARTTLSCarriesBothBodiesAndTheScheduleAsICalendar(t *testing.T) {
	cert, roots := testCert(t)
	mb := &mailbox{user: "patchbay", password: "s3cret pass"}
	addr := startSMTP(t, mb, &cert, false)
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 5, 0, time.UTC)}
	w := emailWorker(t, db, clk, roots, "smtp://"+addr)
	addUser(t, db, "carol", "carol@example.org")
	m := enqueue(t, db, clk.now(), "email", scheduledEvent)

	if n, err := w.Step(context.Background()); n != 1 || err != nil {
		t.Fatalf("step: %d %v", n, err)
	}
	got, err := db.GetOutbox(context.Background(), m.ID)
	if err != nil || got.Status != store.OutboxDelivered {
		t.Fatalf("message after the attempt: %+v %v, want delivered", got, err)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if len(mb.got) != 1 {
		t.Fatalf("the SMTP server received %d messages, want 1", len(mb.got))
	}
	r := mb.got[0]
	if !r.tls || r.authd != "patchbay" || r.from != "patchbay@example.com" || strings.Join(r.rcpts, ",") != "carol@example.org" {
		t.Fatalf("envelope: tls %v, account %q, from %q, to %q; want TLS, patchbay, patchbay@example.com, carol@example.org", r.tls, r.authd, r.from, r.rcpts)
	}

	msg, err := mail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	for name, want := range map[string]string{
		"From":       "<patchbay@example.com>",
		"To":         "<carol@example.org>",
		"Subject":    `Change "openssl" is scheduled`,
		"Message-ID": "<" + m.Key + "@example.com>",
		"Date":       "Sun, 06 Dec 2026 07:00:05 +0000",
	} {
		v := msg.Header.Get(name)
		if name == "Subject" {
			v = subject
		}
		if v != want {
			t.Errorf("header %s: %q, want %q", name, v, want)
		}
	}
	if v := msg.Header.Get("X-Patchbay-Event"); v != "change.scheduled" {
		t.Errorf("X-Patchbay-Event: %q", v)
	}

	parts := map[string][]byte{}
	walk(t, msg.Header.Get("Content-Type"), msg.Body, parts)
	wantText := "Change c1 (openssl) went from pending-approval to scheduled: approved by dave\n\n" +
		"Planned: 2026-12-08 22:00 to 2026-12-09 02:00 (UTC). Its first wave runs in window nightly.\n\n" +
		"Open in Patchbay: https://pb.example.com/changes/c1\n\n" +
		"-- \nSent to carol as stakeholder · change.scheduled · 2026-12-06T07:00:00Z\n"
	if got := strings.ReplaceAll(string(parts["text/plain"]), "\r\n", "\n"); got != wantText {
		t.Errorf("plain text body:\n%s\nwant:\n%s", got, wantText)
	}
	html := string(parts["text/html"])
	for _, want := range []string{
		`<h1>Change &#34;openssl&#34; is scheduled</h1>`,
		`<p>Planned: 2026-12-08 22:00 to 2026-12-09 02:00 (UTC). Its first wave runs in window nightly.</p>`,
		`<a href="https://pb.example.com/changes/c1">Open in Patchbay</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML body lacks %s:\n%s", want, html)
		}
	}

	ics, ok := parts["text/calendar"]
	if !ok {
		t.Fatalf("no text/calendar part; parts: %v", keys(parts))
	}
	cal, err := ical.NewDecoder(bytes.NewReader(ics)).Decode()
	if err != nil {
		t.Fatalf("iCalendar attachment: %v\n%s", err, ics)
	}
	if method, _ := cal.Props.Text(ical.PropMethod); method != "PUBLISH" {
		t.Errorf("METHOD %q, want PUBLISH", method)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d VEVENTs, want 1", len(evs))
	}
	start, err1 := evs[0].DateTimeStart(time.UTC)
	end, err2 := evs[0].DateTimeEnd(time.UTC)
	uid, _ := evs[0].Props.Text(ical.PropUID)
	summary, _ := evs[0].Props.Text(ical.PropSummary)
	if err1 != nil || err2 != nil || !start.Equal(time.Date(2026, 12, 8, 22, 0, 0, 0, time.UTC)) || !end.Equal(time.Date(2026, 12, 9, 2, 0, 0, 0, time.UTC)) ||
		uid != "change-c1@patchbay" || summary != `Change "openssl" is scheduled` {
		t.Errorf("VEVENT: start %v %v, end %v %v, UID %q, SUMMARY %q; want 2026-12-08 22:00Z to 2026-12-09 02:00Z, change-c1@patchbay, the subject",
			start, err1, end, err2, uid, summary)
	}
}

// walk collects the leaf parts of a MIME body by media type, decoded.
func walk(t *testing.T, contentType string, body io.Reader, out map[string][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		out[mt] = b
		return
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, p)
		case "quoted-printable":
			r = quotedprintable.NewReader(p)
		}
		walk(t, p.Header.Get("Content-Type"), r, out)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEmailOverImplicitTLS(t *testing.T) {
	cert, roots := testCert(t)
	mb := &mailbox{user: "patchbay", password: "s3cret pass"}
	addr := startSMTP(t, mb, &cert, true)
	db := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 5, 0, time.UTC)}
	w := emailWorker(t, db, clk, roots, "smtps://"+addr)
	addUser(t, db, "carol", "carol@example.org")
	ev := scheduledEvent
	ev.Kind, ev.Schedule, ev.ID = notify.ChangeStarted, nil, "c1:4"
	m := enqueue(t, db, clk.now(), "email", ev)
	if n, err := w.Step(context.Background()); n != 1 || err != nil {
		t.Fatalf("step: %d %v", n, err)
	}
	if got, _ := db.GetOutbox(context.Background(), m.ID); got.Status != store.OutboxDelivered {
		t.Fatalf("message: %+v, want delivered", got)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if len(mb.got) != 1 || !mb.got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", mb.got)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(mb.got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string][]byte{}
	walk(t, msg.Header.Get("Content-Type"), msg.Body, parts)
	if _, ok := parts["text/calendar"]; ok {
		t.Errorf("a change.started message carries a calendar; only a schedule does")
	}
	if len(parts["text/plain"]) == 0 || len(parts["text/html"]) == 0 {
		t.Errorf("parts %v, want text/plain and text/html", keys(parts))
	}
}

func TestEmailIsNotSentWithoutTLSOrToSomeoneWithoutAnAddress(t *testing.T) {
	ctx := context.Background()
	t.Run("a server that offers no STARTTLS is refused before any mail", func(t *testing.T) {
		mb := &mailbox{user: "patchbay", password: "s3cret pass"}
		addr := startSMTP(t, mb, nil, false)
		db := openStore(t)
		clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 5, 0, time.UTC)}
		w := emailWorker(t, db, clk, nil, "smtp://"+addr)
		addUser(t, db, "carol", "carol@example.org")
		m := enqueue(t, db, clk.now(), "email", scheduledEvent)
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetOutbox(ctx, m.ID)
		if got.Status != store.OutboxPending || !strings.Contains(got.LastError, "STARTTLS") {
			t.Errorf("message: status %s, error %q; want pending (retried) with an error naming STARTTLS", got.Status, got.LastError)
		}
		mb.mu.Lock()
		defer mb.mu.Unlock()
		if len(mb.got) != 0 {
			t.Errorf("the server received %d messages in clear text", len(mb.got))
		}
	})
	t.Run("a recipient without an address is a dead letter at once, saying what to do", func(t *testing.T) {
		cert, roots := testCert(t)
		mb := &mailbox{user: "patchbay", password: "s3cret pass"}
		addr := startSMTP(t, mb, &cert, false)
		db := openStore(t)
		clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 5, 0, time.UTC)}
		w := emailWorker(t, db, clk, roots, "smtp://"+addr)
		addUser(t, db, "carol", "")
		m := enqueue(t, db, clk.now(), "email", scheduledEvent)
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetOutbox(ctx, m.ID)
		want := "user carol has no e-mail address: set one with `patchbay users email carol ADDRESS`, then retry this message"
		if got.Status != store.OutboxDead || got.Attempts != 1 || got.LastError != want {
			t.Errorf("message: status %s after %d attempts, error %q; want dead after 1 with %q", got.Status, got.Attempts, got.LastError, want)
		}
		mb.mu.Lock()
		defer mb.mu.Unlock()
		if mb.sessions != 0 {
			t.Errorf("the server saw %d connections, want none", mb.sessions)
		}
	})
	t.Run("an SMTP server on loopback is refused when not allowed", func(t *testing.T) {
		cert, roots := testCert(t)
		mb := &mailbox{user: "patchbay", password: "s3cret pass"}
		addr := startSMTP(t, mb, &cert, false)
		db := openStore(t)
		clk := &clock{t: time.Date(2026, 12, 6, 7, 0, 5, 0, time.UTC)}
		w := emailWorker(t, db, clk, roots, "smtp://"+addr)
		w.Guard = Guard{} // the allow-list off
		addUser(t, db, "carol", "carol@example.org")
		m := enqueue(t, db, clk.now(), "email", scheduledEvent)
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetOutbox(ctx, m.ID)
		if got.Status == store.OutboxDelivered || !strings.Contains(got.LastError, "127.0.0.1 is loopback") {
			t.Errorf("message: status %s, error %q; want not delivered, refused as loopback", got.Status, got.LastError)
		}
		mb.mu.Lock()
		defer mb.mu.Unlock()
		if mb.sessions != 0 {
			t.Errorf("the server saw %d connections, want none", mb.sessions)
		}
	})
}
