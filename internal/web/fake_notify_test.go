package web

import (
	"context"
	"fmt"
	"time"
)

// fakeNotify is the fake backend's delivery log.
type fakeNotify struct {
	items   []Notification
	retried []string
	tests   []string // "user channel"
}

func (f *fakeBackend) Notifications(ctx context.Context, q NotificationQuery) (NotificationLog, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	log := NotificationLog{Channels: []string{"console", "webhook", `sl<a>ck`}}
	for _, n := range f.notify.items {
		if (q.Status == "" || n.Status == q.Status) && (q.Channel == "" || n.Channel == q.Channel) {
			log.Items = append(log.Items, n)
		}
	}
	return log, nil
}

func (f *fakeBackend) RetryNotification(ctx context.Context, u User, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, n := range f.notify.items {
		if n.ID != id {
			continue
		}
		if n.Status != "dead" {
			return fmt.Errorf("message %s is %s, not dead: %w", id, n.Status, ErrConflict)
		}
		f.notify.items[i].Status, f.notify.items[i].Attempts = "pending", 0
		f.notify.retried = append(f.notify.retried, id+" by "+u.Username)
		return nil
	}
	return ErrNotFound
}

func (f *fakeBackend) TestNotification(ctx context.Context, u User, channel string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notify.tests = append(f.notify.tests, u.Username+" "+channel)
	f.notify.items = append(f.notify.items, Notification{ID: fmt.Sprintf("t%d", len(f.notify.tests)), Kind: "test", Subject: "Patchbay test message",
		Recipient: u.Username, Role: "tester", Channel: channel, Status: "pending", Created: f.now(), NextAttempt: f.now()})
	return nil
}

// seedNotifications fills the delivery log with one message per state,
// one with markup in its error.
func (f *fakeBackend) seedNotifications() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.notify.items = []Notification{
		{ID: "n1", Kind: "change.halted", Subject: "Change openssl is halted", Recipient: "alice", Role: "sysadmin", Channel: "webhook",
			Status: "delivered", Attempts: 1, Created: now.Add(-time.Hour), Delivered: true, Latency: 1500 * time.Millisecond},
		{ID: "n2", Kind: "host.stale", Subject: "Host web-01 has not checked in", Recipient: "bob", Role: "sysadmin", Channel: "webhook",
			Status: "dead", Attempts: 8, Created: now.Add(-2 * time.Hour), LastError: `refused by the outbound policy: 127.0.0.1 is loopback <script>alert(9)</script>`},
		{ID: "n3", Kind: "finding.kev", Subject: "KEV on db-01", Recipient: "carol", Role: "security", Channel: "webhook",
			Status: "pending", Attempts: 2, Created: now.Add(-10 * time.Minute), NextAttempt: now.Add(time.Minute), LastError: "receiver answered 503 Service Unavailable"},
	}
}
