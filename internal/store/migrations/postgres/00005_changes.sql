-- +goose Up
CREATE TABLE changes (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    state       TEXT NOT NULL,
    author      TEXT NOT NULL,
    spec        TEXT NOT NULL,
    plan        TEXT NOT NULL,
    engine      TEXT NOT NULL DEFAULT '',
    approved_by TEXT NOT NULL DEFAULT '',
    approved_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX changes_state ON changes (state);

CREATE TABLE change_events (
    change_id TEXT NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX change_events_change ON change_events (change_id, at);

-- Jobs for agents. One per (change, host, phase): a job is never created
-- twice, whatever the server replays after a crash.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    change_id    TEXT NOT NULL,
    host_id      TEXT NOT NULL,
    phase        TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    envelope     TEXT NOT NULL,
    status       TEXT NOT NULL,
    result       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    finished_at  BIGINT,
    UNIQUE (change_id, host_id, phase)
);
CREATE INDEX jobs_host_status ON jobs (host_id, status);

CREATE TABLE host_job_seq (
    host_id  TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

-- +goose Down
DROP TABLE host_job_seq;
DROP TABLE jobs;
DROP TABLE change_events;
DROP TABLE changes;
