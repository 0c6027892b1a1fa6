-- +goose Up
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    role         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE enroll_tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    max_hosts  INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    labels     TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE hosts (
    id               TEXT PRIMARY KEY,
    hostname         TEXT NOT NULL,
    facts            TEXT NOT NULL DEFAULT '{}',
    os_id            TEXT NOT NULL DEFAULT '',
    os_version       TEXT NOT NULL DEFAULT '',
    package_format   TEXT NOT NULL DEFAULT '',
    reboot_required  BOOLEAN NOT NULL DEFAULT FALSE,
    labels           TEXT NOT NULL DEFAULT '{}',
    user_labels      TEXT NOT NULL DEFAULT '{}',
    problems         TEXT NOT NULL DEFAULT '[]',
    enrolled_at      BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    revoked_at       BIGINT,
    cert_serial      TEXT NOT NULL,
    prev_cert_serial TEXT NOT NULL DEFAULT '',
    cert_not_after   BIGINT NOT NULL,
    revision         BIGINT NOT NULL DEFAULT 0,
    package_count    INTEGER NOT NULL DEFAULT 0,
    update_count     INTEGER NOT NULL DEFAULT 0,
    enroll_token_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX hosts_hostname ON hosts (hostname, id);
CREATE INDEX hosts_last_seen ON hosts (last_seen_at);

-- Effective labels (agent-derived overlaid by user-set), for filtering.
CREATE TABLE host_labels (
    host_id TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (host_id, key)
);
CREATE INDEX host_labels_kv ON host_labels (key, value);

CREATE TABLE package_versions (
    id             INTEGER PRIMARY KEY,
    format         TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    arch           TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_version TEXT NOT NULL,
    UNIQUE (format, name, version, arch, source, source_version)
);

CREATE TABLE host_packages (
    host_id TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    arch    TEXT NOT NULL,
    pv_id   BIGINT NOT NULL REFERENCES package_versions (id),
    PRIMARY KEY (host_id, name, arch)
);
CREATE INDEX host_packages_pv ON host_packages (pv_id);

CREATE TABLE host_updates (
    host_id TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    arch    TEXT NOT NULL,
    version TEXT NOT NULL,
    repo    TEXT NOT NULL,
    PRIMARY KEY (host_id, name, arch)
);

-- +goose Down
DROP TABLE host_updates;
DROP TABLE host_packages;
DROP TABLE package_versions;
DROP TABLE host_labels;
DROP TABLE hosts;
DROP TABLE enroll_tokens;
DROP TABLE api_tokens;
DROP TABLE users;
