-- +goose Up
-- The report's view of each host's findings, one row per host: every
-- finding's report fields packed into one value (see report.go). It is
-- rewritten from the findings rows in the same transaction as every write
-- to them, so reading the fleet's history for a KPI report reads one row
-- per host instead of one per finding. Rows are filled on first start
-- after this migration.
CREATE TABLE report_hosts (
    host_id  TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    findings BLOB NOT NULL
);

-- +goose Down
DROP TABLE report_hosts;
