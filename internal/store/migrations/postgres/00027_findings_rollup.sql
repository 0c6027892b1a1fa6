-- +goose Up
-- Covering indexes for the roll-up pages (issue 17): grouping the open
-- findings by advisory or by package reads one of these in group order,
-- never the findings rows (reading 100,000 rows one by one cost most of a
-- page). They hold every column a roll-up counts. Grouping by host uses
-- findings_host (00009): a page of hosts reads few rows.
CREATE INDEX findings_open_advisory ON findings (status, advisory_id, host_id, priority, severity, fix_available, kev, exception_id, due_at);
CREATE INDEX findings_open_name ON findings (status, name, host_id, advisory_id, priority, severity, fix_available, kev, exception_id, due_at);

-- +goose Down
DROP INDEX findings_open_name;
DROP INDEX findings_open_advisory;
