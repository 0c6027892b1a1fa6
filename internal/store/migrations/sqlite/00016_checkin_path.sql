-- +goose Up
-- The durable set of hosts whose findings need reconciling. A check-in
-- that changes a host's packages or updates marks it in the same
-- transaction; the server's worker drains the set in batches and deletes a
-- row only after the host's reconcile committed, and only if no mark came
-- in meanwhile (gen, bumped by every mark, still the one it read). Nothing
-- is dropped when the server is busy, and a restart resumes the set.
-- not_before puts off a host whose reconcile failed (Unix ms).
CREATE TABLE hosts_to_reconcile (
    host_id    TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    gen        BIGINT NOT NULL DEFAULT 1,
    marked_at  BIGINT NOT NULL,
    not_before BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX hosts_to_reconcile_due ON hosts_to_reconcile (not_before, marked_at);

-- A hash of the host's facts as last written, minus the uptime (it moves
-- at every check-in): a check-in rewrites facts only when it differs.
ALTER TABLE hosts ADD COLUMN facts_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE hosts DROP COLUMN facts_hash;
DROP TABLE hosts_to_reconcile;
