-- +goose Up
-- The SHA-256 of an OSV record's bytes as imported: a re-import skips
-- parsing the records whose bytes are unchanged ('' for rows imported
-- before, and for feeds that are not OSV).
ALTER TABLE advisories ADD COLUMN raw_hash TEXT NOT NULL DEFAULT '';

-- Matching after a feed import runs off the request path as a job. The
-- import commits its job row with the advisories, so a job whose server
-- stopped is resumed at the next start: keys are the (distro, release,
-- package) keys the changed advisories were or are filed under, as JSON;
-- advisories the changed IDs (their findings are rescored); cves the CVEs
-- whose KEV entry or EPSS score changed (their findings are rescored).
CREATE TABLE feed_jobs (
    id          TEXT PRIMARY KEY,
    feed        TEXT NOT NULL,
    state       TEXT NOT NULL, -- queued, running, done, failed
    keys        TEXT NOT NULL,
    advisories  TEXT NOT NULL,
    cves        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    started_at  BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    tuples      INTEGER NOT NULL DEFAULT 0,
    hosts       INTEGER NOT NULL DEFAULT 0,
    opened      INTEGER NOT NULL DEFAULT 0,
    resolved    INTEGER NOT NULL DEFAULT 0,
    reopened    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    rescored    INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feed_jobs_state ON feed_jobs (state, created_at);

-- +goose Down
DROP TABLE feed_jobs;
ALTER TABLE advisories DROP COLUMN raw_hash;
