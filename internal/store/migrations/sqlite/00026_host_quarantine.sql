-- +goose Up
-- A host's quarantine (policy enforcement, docs/policy.md): quarantined_at
-- is when the current or last quarantine started, released_at when it
-- ended (NULL while it lasts). A row with released_at NULL is a
-- quarantined host; the enforcement loop sends one quarantine job per
-- non-compliant period and one release job when it ends.
CREATE TABLE host_quarantine (
    host_id        TEXT PRIMARY KEY,
    quarantined_at BIGINT NOT NULL,
    released_at    BIGINT,
    hook           TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE host_quarantine;
