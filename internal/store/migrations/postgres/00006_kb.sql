-- +goose Up
-- Knowledge base of problems met after patching.
CREATE TABLE kb_entries (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    problem    TEXT NOT NULL,
    symptoms   TEXT NOT NULL,
    fix        TEXT NOT NULL,
    packages   TEXT NOT NULL,
    distro     TEXT NOT NULL,
    changes    TEXT NOT NULL,
    hosts      TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Sign-offs of a change by the stakeholders of its groups.
CREATE TABLE signoffs (
    change_id  TEXT NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    by_user    TEXT NOT NULL,
    ok         BOOLEAN NOT NULL,
    problem    TEXT NOT NULL,
    kb_id      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (change_id, group_name)
);

-- Notes and action items of retrospectives.
CREATE TABLE retro_notes (
    change_id TEXT NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    author    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX retro_notes_change ON retro_notes (change_id, at);

-- +goose Down
DROP TABLE retro_notes;
DROP TABLE signoffs;
DROP TABLE kb_entries;
