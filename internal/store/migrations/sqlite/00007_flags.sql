-- +goose Up
-- Fleet-wide switches (the emergency stop).
CREATE TABLE flags (
    name   TEXT PRIMARY KEY,
    is_on  BOOLEAN NOT NULL,
    set_by TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    note   TEXT NOT NULL
);

-- +goose Down
DROP TABLE flags;
