-- +goose Up
-- One heartbeat row: /readyz writes it, so a server whose database takes
-- reads but refuses writes (disk full, read-only, a stuck lock) says so.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE readiness;
