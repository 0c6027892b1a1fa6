package api

import "time"

// Notification is one message of the delivery log: an event told to a
// recipient over a channel, with its delivery attempts.
type Notification struct {
	ID          string     `json:"id"`
	Key         string     `json:"idempotency_key"`
	Event       string     `json:"event"`
	Kind        string     `json:"kind"`
	Subject     string     `json:"subject"`
	Recipient   string     `json:"recipient"`
	Role        string     `json:"role"`
	Channel     string     `json:"channel"`
	Status      string     `json:"status"` // pending, delivering, delivered, dead
	Attempts    int        `json:"attempts"`
	Created     time.Time  `json:"created"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Delivered   *time.Time `json:"delivered,omitempty"`
	LatencyMS   int64      `json:"latency_ms,omitempty"` // from the event to the receiver's answer
	LastError   string     `json:"last_error,omitempty"`
}

// NotificationList is the answer of GET /api/v1/notifications.
type NotificationList struct {
	Items    []Notification `json:"items"`
	Total    int            `json:"total"`
	Channels []string       `json:"channels"` // configured channels, "console" first
}
