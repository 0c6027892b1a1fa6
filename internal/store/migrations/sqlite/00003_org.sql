-- +goose Up
-- The organisation as code: the canonical YAML of the last apply, and every
-- earlier one.
CREATE TABLE org_revisions (
    revision   BIGINT PRIMARY KEY,
    yaml       TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    applied_by TEXT NOT NULL,
    summary    TEXT NOT NULL
);

CREATE TABLE exceptions (
    id            TEXT PRIMARY KEY,
    team          TEXT NOT NULL,
    advisory_id   TEXT NOT NULL,
    package       TEXT NOT NULL,
    host_id       TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    justification TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    approved_by   TEXT NOT NULL DEFAULT '',
    approved_at   BIGINT,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    expired_at    BIGINT
);
CREATE INDEX exceptions_expiry ON exceptions (expires_at);

CREATE TABLE calendar_feeds (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Outbox of notifications to people (webhooks and chat come later).
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX notifications_at ON notifications (at);

ALTER TABLE findings ADD COLUMN exception_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE findings DROP COLUMN exception_id;
DROP TABLE notifications;
DROP TABLE calendar_feeds;
DROP TABLE exceptions;
DROP TABLE org_revisions;
