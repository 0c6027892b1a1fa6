-- +goose Up
-- The audit trail: append-only, hash-chained (package audit), with signed
-- checkpoints. Nothing in Patchbay updates or deletes these rows.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    entry      TEXT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    checkpoint TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_log;
