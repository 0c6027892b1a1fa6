-- +goose Up
-- Advisories as imported; data is the whole advisory as JSON (the model of
-- package advisory), the other columns are what lists filter and sort on.
CREATE TABLE advisories (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    feed        TEXT NOT NULL,
    published   BIGINT NOT NULL,
    modified    BIGINT NOT NULL,
    withdrawn   BIGINT,
    severity    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    cvss        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    data        TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX advisories_feed ON advisories (feed);

CREATE TABLE advisory_cves (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    cve         TEXT NOT NULL,
    PRIMARY KEY (advisory_id, cve)
);
CREATE INDEX advisory_cves_cve ON advisory_cves (cve);

CREATE TABLE kev (
    cve        TEXT PRIMARY KEY,
    vendor     TEXT NOT NULL,
    product    TEXT NOT NULL,
    name       TEXT NOT NULL,
    date_added BIGINT NOT NULL,
    due_date   BIGINT NOT NULL,
    ransomware BOOLEAN NOT NULL
);

CREATE TABLE epss (
    cve        TEXT PRIMARY KEY,
    score      DOUBLE PRECISION NOT NULL,
    percentile DOUBLE PRECISION NOT NULL
);

CREATE TABLE feeds (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    origin        TEXT NOT NULL,
    last_sync     BIGINT NOT NULL,
    records       INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    rejections    TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT ''
);

-- A changed advisory invalidates the matches of the package versions it
-- names, by binary or source name.
CREATE INDEX package_versions_name ON package_versions (name);
CREATE INDEX package_versions_source ON package_versions (source);

-- Which distinct (release, package version) tuples were matched against
-- the current advisories, and what matched.
CREATE TABLE pv_matched (
    distro  TEXT NOT NULL,
    release TEXT NOT NULL,
    pv_id   BIGINT NOT NULL REFERENCES package_versions (id),
    PRIMARY KEY (distro, release, pv_id)
);
CREATE TABLE pv_matches (
    distro      TEXT NOT NULL,
    release     TEXT NOT NULL,
    pv_id       BIGINT NOT NULL REFERENCES package_versions (id),
    advisory_id TEXT NOT NULL,
    fixed       TEXT NOT NULL,
    PRIMARY KEY (distro, release, pv_id, advisory_id)
);

CREATE TABLE findings (
    id                TEXT PRIMARY KEY,
    host_id           TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    arch              TEXT NOT NULL,
    advisory_id       TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    fixed_version     TEXT NOT NULL,
    fix_available     BOOLEAN NOT NULL,
    status            TEXT NOT NULL,
    first_seen_at     BIGINT NOT NULL,
    resolved_at       BIGINT,
    resolution        TEXT NOT NULL DEFAULT '',
    reopened          INTEGER NOT NULL DEFAULT 0,
    severity          TEXT NOT NULL DEFAULT '',
    priority          DOUBLE PRECISION NOT NULL DEFAULT 0,
    ssvc              TEXT NOT NULL DEFAULT '',
    reasons           TEXT NOT NULL DEFAULT '[]',
    kev               BOOLEAN NOT NULL DEFAULT FALSE,
    due_at            BIGINT,
    due_reason        TEXT NOT NULL DEFAULT '',
    UNIQUE (host_id, name, arch, advisory_id)
);
CREATE INDEX findings_open ON findings (status, priority);
CREATE INDEX findings_advisory ON findings (advisory_id, status);

CREATE TABLE finding_events (
    finding_id TEXT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX finding_events_finding ON finding_events (finding_id, at);

-- +goose Down
DROP TABLE finding_events;
DROP TABLE findings;
DROP TABLE pv_matches;
DROP TABLE pv_matched;
DROP TABLE feeds;
DROP TABLE epss;
DROP TABLE kev;
DROP TABLE advisory_cves;
DROP TABLE advisories;
DROP INDEX package_versions_source;
DROP INDEX package_versions_name;
