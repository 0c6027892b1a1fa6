-- +goose Up
-- Agent releases uploaded for self-updates (patchbay release upload): the
-- binary and the release note signed offline with the release key, which
-- the server never holds. Agents verify the note against the key pinned on
-- the host; the server only checks that the binary matches it. One release
-- per version and platform (GOOS/GOARCH); a release is never replaced.
CREATE TABLE agent_releases (
    version     TEXT NOT NULL,
    os          TEXT NOT NULL,
    arch        TEXT NOT NULL,
    note        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    binary_data BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (version, os, arch)
);

-- +goose Down
DROP TABLE agent_releases;
