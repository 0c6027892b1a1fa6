package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// This file connects the server to notifications: events become outbox
// messages (package notify decides who hears) written in the same
// transaction as the change that caused them (store.WithOutbox), and a
// delivery worker (package delivery) sends them.

// notifier is the server's notification state.
type notifier struct {
	wake   chan struct{} // a message was written: the worker looks now
	sealer *delivery.Sealer

	mu        sync.RWMutex
	channels  []string          // configured channel names, besides the console
	kinds     map[string]string // channel name → delivery.Kind*
	emailable map[string]bool   // users the email channel can reach (notify_email.go)
}

// shared says whether a channel is a shared room (Slack): it gets one
// message per event naming everyone concerned, not one per person.
func (n *notifier) shared(channel string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.kinds[channel] == delivery.KindSlack
}

func (n *notifier) channelNames() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.channels
}

// wakeNotify tells the worker a message was written; it never blocks.
func (s *Server) wakeNotify() {
	select {
	case s.notify.wake <- struct{}{}:
	default:
	}
}

// outboxMessages turns ev into its messages. Console messages are the
// delivery log's record of who was told: delivered as they are written.
func (s *Server) outboxMessages(ev notify.Event) []store.OutboxMessage {
	_, org := s.org.get()
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	var out []store.OutboxMessage
	room := map[string]int{} // shared channel → index of its one message in out
	for _, d := range notify.Route(ev, org, s.notify.routedChannels()) {
		if !s.notify.reachable(d) {
			continue
		}
		if s.notify.shared(d.Channel) {
			if i, ok := room[d.Channel]; ok {
				out[i].Recipient += ", " + d.Recipient + " (" + d.Role + ")"
				continue
			}
			room[d.Channel] = len(out)
			// The key names the room, so it stays the same when the people concerned change.
			out = append(out, store.OutboxMessage{Key: notify.Delivery{Recipient: "*", Channel: d.Channel}.Key(ev), EventID: ev.ID,
				Kind: string(ev.Kind), Recipient: d.Recipient + " (" + d.Role + ")", Channel: d.Channel, Event: b, CreatedAt: ev.At})
			continue
		}
		m := store.OutboxMessage{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: d.Recipient, Role: d.Role,
			Channel: d.Channel, Event: b, CreatedAt: ev.At}
		if d.Channel == notify.Console {
			at := ev.At
			m.Status, m.DeliveredAt = store.OutboxDelivered, &at
		}
		out = append(out, m)
	}
	return append(out, s.jiraMessage(ev, b)...)
}

// notifying returns ctx carrying the messages of evs: the next write
// transaction run with it stores them with its own writes.
func (s *Server) notifying(ctx context.Context, evs ...notify.Event) context.Context {
	var msgs []store.OutboxMessage
	for _, ev := range evs {
		msgs = append(msgs, s.outboxMessages(ev)...)
	}
	return store.WithOutbox(ctx, store.NewPendingOutbox(msgs...))
}

// changeEvents are the events of change c entering its state from `from`
// (none when the state stays), by actor, with the transition's detail.
func (s *Server) changeEvents(c store.Change, from, actor, detail string, now time.Time) []notify.Event {
	if c.State == from {
		return nil
	}
	kind, ok := notify.ChangeKind(c.State)
	if !ok {
		return nil
	}
	var plan rollout.Plan
	_ = json.Unmarshal(c.Plan, &plan)
	var groups []string
	for _, hp := range plan.Hosts {
		groups = append(groups, hp.Group)
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	// The revision the transition started from names this occurrence.
	id := c.ID + ":" + strconv.FormatInt(c.Revision, 10)
	ev := notify.Event{ID: id, Kind: kind, At: now, Subject: fmt.Sprintf("Change %q is %s", c.Title, c.State),
		Text: fmt.Sprintf("Change %s (%s) went from %s to %s: %s", c.ID, c.Title, from, c.State, detail),
		Link: "/changes/" + c.ID, Change: c.ID, Groups: groups, Author: c.Author, Actor: actor}
	if kind == notify.ChangeApproved || kind == notify.ChangeScheduled {
		_, org := s.org.get()
		ev.Schedule = changeSchedule(org, c, now)
	}
	out := []notify.Event{ev}
	if kind == notify.ChangeAwaitingSignOff {
		out = append(out, notify.Event{ID: id, Kind: notify.SignOffRequested, At: now,
			Subject: fmt.Sprintf("Please sign off change %q", c.Title),
			Text:    fmt.Sprintf("Change %s (%s) has patched and verified your hosts. Check your services and sign off, or report a problem.", c.ID, c.Title),
			Link:    "/changes/" + c.ID, Change: c.ID, Groups: groups, Author: c.Author, Actor: actor})
	}
	return out
}

// startNotify stores the configured channels (sealed) and starts the
// delivery worker.
func (s *Server) startNotify(ctx context.Context) error {
	now := s.now()
	// The flags of the server started last decide the channels (replicas
	// are started with the same flags).
	stored, err := s.store.NotifyChannels(ctx)
	if err != nil {
		return err
	}
	for _, c := range stored {
		if !slices.ContainsFunc(s.cfg.channelConfigs(), func(cc channelConfig) bool { return cc.name == c.Name }) {
			if err := s.store.DeleteNotifyChannel(ctx, c.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove channel %s: %w", c.Name, err)
			}
			s.log.Info("notification channel removed: not configured any more", "channel", c.Name)
		}
	}
	for _, c := range s.cfg.channelConfigs() {
		b, err := json.Marshal(c.cfg)
		if err != nil {
			return err
		}
		if err := s.store.PutNotifyChannel(ctx, store.NotifyChannel{Name: c.name, Kind: c.kind, Sealed: s.notify.sealer.Seal(c.name, b), UpdatedAt: now}); err != nil {
			return fmt.Errorf("store channel %s: %w", c.name, err)
		}
	}
	cs, err := s.store.NotifyChannels(ctx)
	if err != nil {
		return err
	}
	var names []string
	kinds := map[string]string{}
	for _, c := range cs {
		names = append(names, c.Name)
		kinds[c.Name] = c.Kind
	}
	s.notify.mu.Lock()
	s.notify.channels, s.notify.kinds = names, kinds
	s.notify.mu.Unlock()
	if err := s.refreshEmailRecipients(ctx); err != nil {
		return err
	}
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	guard := delivery.Guard{Allow: s.cfg.NotifyAllow}
	client := guard.Client(10*time.Second, s.cfg.NotifyRoots)
	w := &delivery.Worker{Outbox: s.store, Sealer: s.notify.sealer, Client: client, Roots: s.cfg.NotifyRoots, Guard: guard, Now: s.now, Log: s.log,
		Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(suffix)), ConsoleURL: s.consoleURL(),
		Retry: cmp.Or(s.cfg.NotifyRetry, notify.DefaultRetry), Lease: 30 * time.Second, Poll: 2 * time.Second, Batch: 20, Wake: s.notify.wake, Issues: s.store}
	s.spawn(w.Run)
	s.spawn(s.notifyWatchLoop)
	return nil
}

// consoleURL is the base of links in messages.
func (s *Server) consoleURL() string {
	if s.cfg.ConsoleURL != "" {
		return s.cfg.ConsoleURL
	}
	return "https://" + s.cfg.Listen
}

type channelConfig struct {
	name, kind string
	cfg        delivery.ChannelConfig
}

// channelConfigs are the channels the flags configure.
func (c Config) channelConfigs() []channelConfig {
	var out []channelConfig
	if c.WebhookURL != "" {
		out = append(out, channelConfig{"webhook", delivery.KindWebhook, delivery.ChannelConfig{URL: c.WebhookURL, Secret: c.WebhookSecret}})
	}
	if c.SlackWebhookURL != "" {
		out = append(out, channelConfig{"slack", delivery.KindSlack, delivery.ChannelConfig{URL: c.SlackWebhookURL}})
	}
	if c.Email.URL != "" {
		out = append(out, channelConfig{"email", delivery.KindEmail, delivery.ChannelConfig{URL: c.Email.URL,
			Username: c.Email.Username, Password: c.Email.Password, From: c.Email.From}})
	}
	if c.Jira.URL != "" {
		out = append(out, c.Jira.channelConfig())
	}
	return out
}

// NotificationView is one outbox message in the API.
type NotificationView = api.Notification

func notificationView(m store.OutboxMessage) NotificationView {
	var ev notify.Event
	_ = json.Unmarshal(m.Event, &ev)
	v := NotificationView{ID: m.ID, Key: m.Key, Event: m.EventID, Kind: m.Kind, Subject: ev.Subject, Recipient: m.Recipient,
		Role: m.Role, Channel: m.Channel, Status: m.Status, Attempts: m.Attempts, Created: m.CreatedAt, Delivered: m.DeliveredAt,
		LastError: m.LastError}
	if m.Status == store.OutboxPending {
		next := m.NextAt
		v.NextAttempt = &next
	}
	if m.DeliveredAt != nil {
		v.LatencyMS = m.Latency.Milliseconds()
	}
	return v
}

func (s *Server) handleListNotifications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errBadRequest("limit: a number from 1 to 1000")
		}
		limit = n
	}
	status := q.Get("status")
	if status != "" && !slices.Contains([]string{store.OutboxPending, store.OutboxDelivering, store.OutboxDelivered, store.OutboxDead}, status) {
		return errBadRequest(fmt.Sprintf("status: %q is not pending, delivering, delivered or dead", status))
	}
	ms, err := s.store.ListOutbox(r.Context(), store.OutboxFilter{Status: status, Channel: q.Get("channel"), Kind: q.Get("kind"), Limit: limit})
	if err != nil {
		return err
	}
	out := make([]NotificationView, 0, len(ms))
	for _, m := range ms {
		out = append(out, notificationView(m))
	}
	return writeJSON(w, 200, api.NotificationList{Items: out, Total: len(out), Channels: append([]string{notify.Console}, s.notify.channelNames()...)})
}

func (s *Server) handleRetryNotification(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	auditSummary(ctx, "notification %s sent again by %s", id, principalName(ctx, s))
	if err := s.store.RetryOutbox(ctx, id, s.now()); err != nil {
		return err
	}
	m, err := s.store.GetOutbox(ctx, id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, notificationView(m))
}

// TestNotificationRequest names the channel to test ("" for every one).
type TestNotificationRequest struct {
	Channel string `json:"channel"`
}

func (s *Server) handleTestNotification(w http.ResponseWriter, r *http.Request) error {
	var req TestNotificationRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, 4<<10, &req); err != nil {
			return err
		}
	}
	ctx := r.Context()
	ms, err := s.sendTestNotification(ctx, principalName(ctx, s), req.Channel)
	if err != nil {
		return err
	}
	out := make([]NotificationView, 0, len(ms))
	for _, m := range ms {
		out = append(out, notificationView(m))
	}
	return writeJSON(w, 200, api.NotificationList{Items: out, Total: len(out), Channels: append([]string{notify.Console}, s.notify.channelNames()...)})
}

// sendTestNotification writes a test message to who over channel (every
// configured channel when ""); the console and the CLI call it.
func (s *Server) sendTestNotification(ctx context.Context, who, channel string) ([]store.OutboxMessage, error) {
	names := s.notify.channelNames()
	if channel != "" && !slices.Contains(names, channel) {
		return nil, errBadRequest(fmt.Sprintf("channel: %q is not configured (channels: %v); configure one with --webhook, --slack-webhook, --smtp or --jira-url", channel, names))
	}
	if len(names) == 0 {
		return nil, errBadRequest("no channel is configured; start the server with --webhook, --slack-webhook, --smtp or --jira-url")
	}
	id := make([]byte, 8)
	rand.Read(id)
	now := s.now()
	ev := notify.Event{ID: "test:" + hex.EncodeToString(id), Kind: notify.Test, At: now, Subject: "Patchbay test message",
		Text: fmt.Sprintf("%s sent this test message from Patchbay at %s.", who, now.UTC().Format(time.RFC3339)), Link: "/notifications", Actor: who}
	b, _ := json.Marshal(ev)
	var msgs []store.OutboxMessage
	for _, c := range names {
		if channel != "" && c != channel {
			continue
		}
		d := notify.Delivery{Recipient: who, Role: "tester", Channel: c}
		msgs = append(msgs, store.OutboxMessage{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: who, Role: d.Role,
			Channel: c, Event: b, CreatedAt: now})
	}
	auditSummary(ctx, "test notification sent by %s to %d channels", who, len(msgs))
	if err := s.store.EnqueueOutbox(ctx, msgs...); err != nil {
		return nil, err
	}
	out := make([]store.OutboxMessage, 0, len(msgs))
	for _, m := range msgs {
		got, err := s.store.ListOutbox(ctx, store.OutboxFilter{Kind: string(notify.Test), Channel: m.Channel, Limit: 1})
		if err == nil && len(got) == 1 && got[0].Key == m.Key {
			out = append(out, got[0])
		}
	}
	return out, nil
}
