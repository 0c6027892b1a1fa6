-- +goose Up
-- Durable notifications (package notify, internal/delivery). A row per
-- (event, recipient, channel), written in the same transaction as the
-- change that caused the event (store.WithOutbox). The delivery worker
-- claims due rows with a lease (lease_owner, lease_until); idem_key is the
-- message's idempotency key, sent to receivers so they can drop
-- duplicates, and unique here so an event observed twice is stored once.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    idem_key     TEXT NOT NULL UNIQUE,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    role         TEXT NOT NULL,
    channel      TEXT NOT NULL,
    event        TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    next_at      BIGINT NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    latency_ms   BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (status, next_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- Notification channels (webhook, slack). sealed is the channel's URL and
-- signing secret, AES-256-GCM under the key in the data directory
-- (notify.key): the database alone never reveals them.
CREATE TABLE notify_channels (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The outbox replaces the notifications table, which nothing read.
DROP TABLE notifications;

-- +goose Down
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX notifications_at ON notifications (at);
DROP TABLE notify_channels;
DROP TABLE outbox;
