package delivery

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// Channel kinds.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack" // Slack-compatible incoming webhook (Mattermost too)
	KindEmail   = "email" // SMTP (email.go)
)

// ChannelConfig is what a channel's sealed configuration holds.
type ChannelConfig struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"` // webhook signing secret
	// Email: URL is smtp://HOST:PORT (STARTTLS, required) or
	// smtps://HOST:PORT (implicit TLS); the account and the sender.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	From     string `json:"from,omitempty"`
	// Jira: URL is the site's base (https://example.atlassian.net),
	// Username the account's e-mail address for Basic auth (jira.go).
	Jira JiraConfig `json:"jira,omitempty"`
}

// Outbox is what the worker needs of the store.
type Outbox interface {
	ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]store.OutboxMessage, error)
	FinishOutbox(ctx context.Context, id, owner string, r store.OutboxResult) error
	NotifyChannels(ctx context.Context) ([]store.NotifyChannel, error)
	// GetUserByName finds an email recipient's address.
	GetUserByName(ctx context.Context, username string) (store.User, error)
}

// Worker delivers the outbox. Every server replica runs one; the leases
// make each message one worker's.
type Worker struct {
	Outbox Outbox
	Sealer *Sealer
	Client *http.Client // from Guard.Client
	// Roots verifies SMTP servers' certificates; nil: the system's.
	Roots      *x509.CertPool
	Guard      Guard
	Now        func() time.Time
	Log        *slog.Logger
	Owner      string // unique per process: the lease holder's name
	ConsoleURL string // base of links in messages
	Retry      notify.Retry
	Lease      time.Duration // how long a claim lasts; longer than the client's timeout
	Poll       time.Duration // how often to look for due messages without a wake-up
	Batch      int
	Wake       <-chan struct{} // a message was written
	Jitter     func() float64  // [0,1); nil: math/rand/v2
	Issues     Issues          // where the jira channel keeps issue keys
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	for {
		n, err := w.Step(ctx)
		if err != nil && ctx.Err() == nil {
			w.Log.Warn("notification delivery", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
			return
		case <-w.Wake:
		case <-time.After(w.Poll):
		}
	}
}

// Step claims the due messages (one batch) and attempts each once; it
// returns how many it attempted.
func (w *Worker) Step(ctx context.Context) (int, error) {
	msgs, err := w.Outbox.ClaimOutbox(ctx, w.Owner, w.Now(), w.Lease, w.Batch)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	chans, err := w.channels(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if ctx.Err() != nil {
			return 0, ctx.Err() // the lease runs out and another attempt follows
		}
		err := w.send(ctx, m, chans)
		res := store.OutboxResult{At: w.Now()}
		switch {
		case err == nil:
			res.Delivered = true
		default:
			res.Error = errText(err)
			wait, dead := w.Retry.Next(m.Attempts, w.jitter())
			var pe *permanentError
			if errors.As(err, &pe) {
				dead, wait = true, 0 // another attempt would fail the same way
			}
			res.Dead, res.NextAt = dead, res.At.Add(wait)
			w.Log.Info("notification not delivered", "id", m.ID, "channel", m.Channel, "attempt", m.Attempts, "dead", dead, "err", res.Error)
		}
		// Recorded even as the server stops: the attempt happened.
		if err := w.Outbox.FinishOutbox(context.WithoutCancel(ctx), m.ID, w.Owner, res); err != nil {
			w.Log.Warn("notification attempt not recorded", "id", m.ID, "err", err)
		}
	}
	return len(msgs), nil
}

func (w *Worker) jitter() float64 {
	if w.Jitter != nil {
		return w.Jitter()
	}
	return rand.Float64()
}

type channel struct {
	kind string
	cfg  ChannelConfig
	err  error
}

func (w *Worker) channels(ctx context.Context) (map[string]channel, error) {
	cs, err := w.Outbox.NotifyChannels(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]channel{}
	for _, c := range cs {
		ch := channel{kind: c.Kind}
		plain, err := w.Sealer.Open(c.Name, c.Sealed)
		if err == nil {
			err = json.Unmarshal(plain, &ch.cfg)
		}
		ch.err = err
		out[c.Name] = ch
	}
	return out, nil
}

// send makes one attempt.
func (w *Worker) send(ctx context.Context, m store.OutboxMessage, chans map[string]channel) error {
	ch, ok := chans[m.Channel]
	if !ok {
		return fmt.Errorf("channel %q is not configured", m.Channel)
	}
	if ch.err != nil {
		return ch.err
	}
	var ev notify.Event
	if err := json.Unmarshal(m.Event, &ev); err != nil {
		return fmt.Errorf("stored event: %w", err)
	}
	d := notify.Delivery{Recipient: m.Recipient, Role: m.Role, Channel: m.Channel}
	var body []byte
	var err error
	switch ch.kind {
	case KindWebhook:
		body, err = notify.WebhookBody(ev, d, w.ConsoleURL)
	case KindSlack:
		body, err = notify.SlackBody(ev, d, w.ConsoleURL)
	case KindEmail:
		return w.mail(ctx, ch, m, ev, d)
	case KindJira:
		return w.jira(ctx, ch, m, ev)
	default:
		return fmt.Errorf("channel %q: unknown kind %q", m.Channel, ch.kind)
	}
	if err != nil {
		return err
	}
	return w.post(ctx, ch, m, ev, body)
}

// Guard refusals name no URL: a channel's URL may carry its secret.
func (w *Worker) post(ctx context.Context, ch channel, m store.OutboxMessage, ev notify.Event, body []byte) error {
	if _, err := w.Guard.CheckURL(ch.cfg.URL); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.Client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("channel URL: " + err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchbay-notify/1")
	if ch.kind == KindWebhook {
		req.Header.Set("Idempotency-Key", m.Key)
		req.Header.Set("X-Patchbay-Event", string(ev.Kind))
		req.Header.Set(notify.SignatureHeader, notify.Sign([]byte(ch.cfg.Secret), w.Now(), body))
	}
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// errText is an attempt's error for the delivery log: without the URL
// (url.Error repeats it, and it may hold a secret), at most 512 bytes.
func errText(err error) string {
	s := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		s = ue.Err.Error()
	}
	for len(s) > 512 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
