-- +goose Up
-- Covering indexes for the roll-up pages (issue 17): a page first groups
-- the open findings by advisory or by package computing only its sort
-- column, which these indexes answer without reading the findings rows,
-- in group order. Grouping by host uses findings_host (00009).
CREATE INDEX findings_open_advisory ON findings (status, advisory_id, host_id, priority);
CREATE INDEX findings_open_name ON findings (status, name, host_id, priority);

-- +goose Down
DROP INDEX findings_open_name;
DROP INDEX findings_open_advisory;
