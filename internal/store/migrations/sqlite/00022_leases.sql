-- +goose Up
-- Several server replicas on one database (docs/replicas.md); SQLite runs
-- one replica, with the same tables so the same code runs on both.
--
-- leases: a singleton loop (feed sync, exception expiry) runs on the
-- replica holding its lease. holder names a server process; token grows
-- by one at each take-over by another holder (the fencing token); ran_at
-- is when the loop's last run was claimed, so the schedule survives
-- restarts. Times are Unix milliseconds.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ran_at     INTEGER NOT NULL DEFAULT 0
);

-- advisory_generation: one row, bumped by every write to advisories, in
-- the writer's transaction (SQLite triggers are per row).
CREATE TABLE advisory_generation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    gen INTEGER NOT NULL
);
INSERT INTO advisory_generation (id, gen) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER advisories_generation_ins AFTER INSERT ON advisories
BEGIN
    UPDATE advisory_generation SET gen = gen + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER advisories_generation_upd AFTER UPDATE ON advisories
BEGIN
    UPDATE advisory_generation SET gen = gen + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER advisories_generation_del AFTER DELETE ON advisories
BEGIN
    UPDATE advisory_generation SET gen = gen + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER advisories_generation_del;
DROP TRIGGER advisories_generation_upd;
DROP TRIGGER advisories_generation_ins;
DROP TABLE advisory_generation;
DROP TABLE leases;
