// Package delivery sends the notification outbox: a worker claims due
// messages with a lease, renders them for their channel (package notify),
// posts them through an SSRF-safe HTTP client (or sends them over SMTP
// through the same guard, email.go) and records each attempt,
// with exponential backoff and jitter between attempts and a dead letter
// after the last. It also seals channel URLs and secrets for storage.
//
// It is not for deciding who is told (package notify) or for storing
// messages (package store). Its key invariant: a message is marked
// delivered only after its receiver answered 2xx (an SMTP server accepted
// it), and only by the worker
// holding its lease, so a crash loses nothing and a lease that ran out
// is taken over; the idempotency key lets receivers drop the rare
// duplicate this allows.
package delivery
