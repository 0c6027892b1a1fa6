package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Outbox message states.
const (
	OutboxPending    = "pending"    // waiting for its next attempt (next_at)
	OutboxDelivering = "delivering" // claimed by a worker until lease_until
	OutboxDelivered  = "delivered"
	OutboxDead       = "dead" // out of attempts; `notifications retry` sends it again
)

// OutboxMessage is one notification to one recipient over one channel.
type OutboxMessage struct {
	ID        string
	Key       string // idempotency key: the same for every attempt, unique in the outbox
	EventID   string
	Kind      string // the event's kind (notify.Kind)
	Recipient string
	Role      string // why the recipient is told: stakeholder, sysadmin, approver, author, ...
	Channel   string
	Event     []byte // the event as JSON (notify.Event)
	Status    string
	Attempts  int
	CreatedAt time.Time
	NextAt    time.Time
	// DeliveredAt and Latency (from CreatedAt) are set once delivered.
	DeliveredAt *time.Time
	Latency     time.Duration
	LastError   string
}

// PendingOutbox holds the messages of the mutation a context is doing. The
// store's write transaction inserts those not yet stored just before it
// commits (see tx), so an event's messages commit with the change that
// caused it, or neither does.
type PendingOutbox struct {
	mu     sync.Mutex
	msgs   []OutboxMessage
	stored int
}

// NewPendingOutbox returns a pending outbox holding msgs.
func NewPendingOutbox(msgs ...OutboxMessage) *PendingOutbox {
	return &PendingOutbox{msgs: append([]OutboxMessage(nil), msgs...)}
}

// Add appends messages.
func (p *PendingOutbox) Add(msgs ...OutboxMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
}

type pendingOutboxKey struct{}

// WithOutbox returns ctx carrying p: write transactions run with it insert
// p's messages.
func WithOutbox(ctx context.Context, p *PendingOutbox) context.Context {
	return context.WithValue(ctx, pendingOutboxKey{}, p)
}

// OutboxFrom returns the pending outbox ctx carries, or nil.
func OutboxFrom(ctx context.Context) *PendingOutbox {
	p, _ := ctx.Value(pendingOutboxKey{}).(*PendingOutbox)
	return p
}

// SetOutboxHook installs fn, called after a transaction that inserted
// outbox messages committed (the delivery worker wakes up); call it before
// the store is shared.
func (s *DB) SetOutboxHook(fn func()) { s.outboxAdded = fn }

// insertOutbox inserts msgs in tx. A message whose idempotency key is
// stored already is skipped: events observed again (an overdue finding on
// every pass of a loop) are told once.
func (s *DB) insertOutbox(ctx context.Context, tx *sql.Tx, msgs []OutboxMessage) error {
	for _, m := range msgs {
		if m.ID == "" {
			m.ID = uuid.NewString()
		}
		if m.Key == "" {
			return fmt.Errorf("outbox message %s: no idempotency key", m.ID)
		}
		status := m.Status
		if status == "" {
			status = OutboxPending
		}
		var delivered sql.NullInt64
		if m.DeliveredAt != nil {
			delivered = sql.NullInt64{Int64: ms(*m.DeliveredAt), Valid: true}
		}
		next := m.NextAt
		if next.IsZero() {
			next = m.CreatedAt
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO outbox (id, idem_key, event_id, kind, recipient, role, channel, event, status,
			attempts, created_at, next_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`),
			m.ID, m.Key, m.EventID, m.Kind, m.Recipient, m.Role, m.Channel, string(m.Event), status,
			ms(m.CreatedAt), ms(next), delivered); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

// EnqueueOutbox stores messages on their own, in one transaction (with the
// audit record ctx carries). Events that follow no other write (a stale
// host, an overdue finding) use it; their keys make it idempotent.
func (s *DB) EnqueueOutbox(ctx context.Context, msgs ...OutboxMessage) error {
	return s.tx(WithOutbox(ctx, NewPendingOutbox(msgs...)), func(*sql.Tx) error { return nil })
}

const outboxCols = `id, idem_key, event_id, kind, recipient, role, channel, event, status, attempts, created_at, next_at,
	delivered_at, latency_ms, last_error`

func scanOutbox(row interface{ Scan(...any) error }) (OutboxMessage, error) {
	var m OutboxMessage
	var event string
	var created, next, latency int64
	var delivered sql.NullInt64
	err := row.Scan(&m.ID, &m.Key, &m.EventID, &m.Kind, &m.Recipient, &m.Role, &m.Channel, &event, &m.Status, &m.Attempts,
		&created, &next, &delivered, &latency, &m.LastError)
	m.Event, m.CreatedAt, m.NextAt, m.DeliveredAt = []byte(event), fromMS(created), fromMS(next), fromMSPtr(delivered)
	m.Latency = time.Duration(latency) * time.Millisecond
	return m, err
}

// ClaimOutbox leases up to n due messages to owner until now+lease and
// counts the attempt: pending messages whose next attempt is due, and
// messages whose previous lease ran out (the worker holding it died). On
// PostgreSQL, FOR UPDATE SKIP LOCKED lets several replicas claim at once,
// each row by one; SQLite has one writer.
func (s *DB) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]OutboxMessage, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []OutboxMessage
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`UPDATE outbox SET status = ?, lease_owner = ?, lease_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE (status = ? AND next_at <= ?) OR (status = ? AND lease_until <= ?)
			ORDER BY next_at, id LIMIT ?`+lock+`) RETURNING `+outboxCols),
			OutboxDelivering, owner, ms(now.Add(lease)), OutboxPending, ms(now), OutboxDelivering, ms(now), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// OutboxResult is the outcome of one delivery attempt.
type OutboxResult struct {
	Delivered bool
	Dead      bool      // no attempt left: dead letter
	NextAt    time.Time // when not delivered and not dead
	Error     string
	At        time.Time // when the attempt ended
}

// FinishOutbox records the attempt owner made on message id. It returns
// ErrNotFound when owner no longer holds the lease (it ran out and another
// worker claimed the message).
func (s *DB) FinishOutbox(ctx context.Context, id, owner string, r OutboxResult) error {
	switch {
	case r.Delivered:
		return s.execOne(ctx, s.q(`UPDATE outbox SET status = ?, delivered_at = ?, latency_ms = ? - created_at, last_error = '',
			lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ? AND status = ?`),
			OutboxDelivered, ms(r.At), ms(r.At), id, owner, OutboxDelivering)
	case r.Dead:
		return s.execOne(ctx, s.q(`UPDATE outbox SET status = ?, last_error = ?, lease_owner = '', lease_until = 0
			WHERE id = ? AND lease_owner = ? AND status = ?`), OutboxDead, r.Error, id, owner, OutboxDelivering)
	}
	return s.execOne(ctx, s.q(`UPDATE outbox SET status = ?, next_at = ?, last_error = ?, lease_owner = '', lease_until = 0
		WHERE id = ? AND lease_owner = ? AND status = ?`), OutboxPending, ms(r.NextAt), r.Error, id, owner, OutboxDelivering)
}

// RetryOutbox sends a dead letter again: it becomes pending now with its
// attempts counted from zero. Other states are a conflict.
func (s *DB) RetryOutbox(ctx context.Context, id string, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM outbox WHERE id = ?`), id).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if status != OutboxDead {
			return fmt.Errorf("message %s is %s, not dead: %w", id, status, ErrConflict)
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE outbox SET status = ?, attempts = 0, next_at = ? WHERE id = ?`), OutboxPending, ms(now), id)
		return err
	})
	if err == nil && s.outboxAdded != nil {
		s.outboxAdded()
	}
	return err
}

// OutboxFilter selects messages; zero fields select all.
type OutboxFilter struct {
	Status  string
	Channel string
	Kind    string
	Limit   int // 100 when 0
}

// ListOutbox returns messages, newest first.
func (s *DB) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxMessage, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"status": f.Status, "channel": f.Channel, "kind": f.Kind} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	q := `SELECT ` + outboxCols + ` FROM outbox`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY created_at DESC, id LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GetOutbox returns one message.
func (s *DB) GetOutbox(ctx context.Context, id string) (OutboxMessage, error) {
	m, err := scanOutbox(s.db.QueryRowContext(ctx, s.q(`SELECT `+outboxCols+` FROM outbox WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	return m, err
}

// NotifyChannel is a configured channel; Sealed holds its URL and secret,
// encrypted by the server (the store never sees them in the clear).
type NotifyChannel struct {
	Name      string
	Kind      string
	Sealed    []byte
	UpdatedAt time.Time
}

// PutNotifyChannel creates or replaces a channel.
func (s *DB) PutNotifyChannel(ctx context.Context, c NotifyChannel) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO notify_channels (name, kind, sealed, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, sealed = excluded.sealed, updated_at = excluded.updated_at`),
		c.Name, c.Kind, string(c.Sealed), ms(c.UpdatedAt))
	return err
}

// DeleteNotifyChannel removes a channel; its undelivered messages fail
// with "not configured" until they are dead letters.
func (s *DB) DeleteNotifyChannel(ctx context.Context, name string) error {
	return s.execOne(ctx, s.q(`DELETE FROM notify_channels WHERE name = ?`), name)
}

// NotifyChannels lists the channels by name.
func (s *DB) NotifyChannels(ctx context.Context) ([]NotifyChannel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, kind, sealed, updated_at FROM notify_channels ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NotifyChannel
	for rows.Next() {
		var c NotifyChannel
		var sealed string
		var at int64
		if err := rows.Scan(&c.Name, &c.Kind, &sealed, &at); err != nil {
			return nil, err
		}
		c.Sealed, c.UpdatedAt = []byte(sealed), fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneOutbox deletes delivered and dead messages created before before,
// and returns how many. State events older than that may be told again
// if they still hold (a reminder).
func (s *DB) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, s.q(`DELETE FROM outbox WHERE status IN (?, ?) AND created_at < ?`), OutboxDelivered, OutboxDead, ms(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
