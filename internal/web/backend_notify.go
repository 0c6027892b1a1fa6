package web

import (
	"context"
	"time"
)

// NotifyBackend is what the delivery log page needs: the notifications
// sent (or being sent) over each channel, and the two actions on them.
type NotifyBackend interface {
	// Notifications lists the newest notifications matching q, and the
	// configured channels.
	Notifications(ctx context.Context, q NotificationQuery) (NotificationLog, error)
	// RetryNotification sends a dead letter again, as u.
	RetryNotification(ctx context.Context, u User, id string) error
	// TestNotification sends u a test message over channel ("" for every
	// channel).
	TestNotification(ctx context.Context, u User, channel string) error
}

// NotificationQuery narrows the delivery log; empty fields select all.
type NotificationQuery struct {
	Status  string // pending, delivering, delivered, dead
	Channel string
	Limit   int
}

// NotificationLog is a page of the delivery log.
type NotificationLog struct {
	Items    []Notification
	Channels []string // the console first, then the configured channels
}

// Notification is one message: an event told to a recipient over a
// channel.
type Notification struct {
	ID          string
	Kind        string // the event, e.g. change.halted
	Subject     string
	Recipient   string
	Role        string
	Channel     string
	Status      string
	Attempts    int
	Created     time.Time
	NextAttempt time.Time // when pending; zero otherwise
	Delivered   bool
	Latency     time.Duration // from the event to the receiver's answer, once delivered
	LastError   string
}
