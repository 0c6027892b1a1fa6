-- +goose Up
-- Check-ins remove the package versions no host holds any more, with
-- their match results: these find a version's match rows without a scan
-- of every release's rows (and let the foreign key checks do the same).
CREATE INDEX pv_matched_pv ON pv_matched (pv_id);
CREATE INDEX pv_matches_pv ON pv_matches (pv_id);

-- What a host owes for package versions it added beyond its first
-- inventory, at the time it was last charged (Unix ms): check-ins may add
-- at most 10,000 an hour (store.MaxNewVersionsPerHour).
ALTER TABLE hosts ADD COLUMN new_versions_debt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN new_versions_at BIGINT NOT NULL DEFAULT 0;

-- Versions earlier releases left behind.
DELETE FROM pv_matches WHERE NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.pv_id = pv_matches.pv_id);
DELETE FROM pv_matched WHERE NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.pv_id = pv_matched.pv_id);
DELETE FROM package_versions WHERE NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.pv_id = package_versions.id);

-- +goose Down
ALTER TABLE hosts DROP COLUMN new_versions_at;
ALTER TABLE hosts DROP COLUMN new_versions_debt;
DROP INDEX pv_matches_pv;
DROP INDEX pv_matched_pv;
