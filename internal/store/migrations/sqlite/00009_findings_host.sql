-- +goose Up
-- A host's findings, highest priority first: the host page and the API's
-- per-host list read them by host and status in priority order. Without
-- it the planner walks findings_open (every open finding in the fleet) to
-- avoid a sort.
CREATE INDEX findings_host ON findings (host_id, status, priority);

-- +goose Down
DROP INDEX findings_host;
