-- +goose Up
-- Several server replicas on one database (docs/replicas.md).
--
-- leases: a singleton loop (feed sync, exception expiry) runs on the
-- replica holding its lease. holder names a server process; token grows
-- by one at each take-over by another holder (the fencing token); ran_at
-- is when the loop's last run was claimed, so the schedule is shared by
-- all replicas and survives restarts. Times are Unix milliseconds.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ran_at     BIGINT NOT NULL DEFAULT 0
);

-- advisory_generation: one row, bumped by every statement that writes
-- advisories, in the writer's transaction; each replica polls it and
-- loads what changed into its in-memory index.
CREATE TABLE advisory_generation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    gen BIGINT NOT NULL
);
INSERT INTO advisory_generation (id, gen) VALUES (1, 0);

-- +goose StatementBegin
CREATE FUNCTION bump_advisory_generation() RETURNS trigger AS $$
BEGIN
    UPDATE advisory_generation SET gen = gen + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER advisories_generation AFTER INSERT OR UPDATE OR DELETE ON advisories
    FOR EACH STATEMENT EXECUTE FUNCTION bump_advisory_generation();

-- +goose Down
DROP TRIGGER advisories_generation ON advisories;
DROP FUNCTION bump_advisory_generation();
DROP TABLE advisory_generation;
DROP TABLE leases;
