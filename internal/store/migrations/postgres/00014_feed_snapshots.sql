-- +goose Up
-- KEV and EPSS imports are dated snapshots (KEV's dateReleased and
-- catalogVersion, EPSS's score_date and model version): an import older
-- than the stored one is refused.
ALTER TABLE feeds ADD COLUMN snapshot_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN snapshot_version TEXT NOT NULL DEFAULT '';

-- One identity per feed, whether it came by sync or by import: imports
-- were named "osv:NAME" and "alpine-secdb:NAME", syncs "osv-NAME". Both are
-- now "osv-NAME" ("osv:osv-NAME" becomes "osv-NAME"). Where both rows
-- exist, the status of the newer one stays.
DELETE FROM feeds WHERE name LIKE 'osv:%' AND EXISTS (SELECT 1 FROM feeds f2 WHERE f2.last_sync > feeds.last_sync AND f2.name =
    CASE WHEN feeds.name LIKE 'osv:osv-%' THEN substr(feeds.name, 5) ELSE 'osv-' || substr(feeds.name, 5) END);
DELETE FROM feeds WHERE name NOT LIKE 'osv:%' AND EXISTS (SELECT 1 FROM feeds f2 WHERE f2.name LIKE 'osv:%' AND feeds.name =
    CASE WHEN f2.name LIKE 'osv:osv-%' THEN substr(f2.name, 5) ELSE 'osv-' || substr(f2.name, 5) END);
DELETE FROM feeds WHERE name LIKE 'alpine-secdb:%' AND EXISTS (SELECT 1 FROM feeds f2 WHERE f2.last_sync > feeds.last_sync AND f2.name =
    CASE WHEN feeds.name LIKE 'alpine-secdb:alpine-secdb-%' THEN substr(feeds.name, 14) ELSE 'alpine-secdb-' || substr(feeds.name, 14) END);
DELETE FROM feeds WHERE name NOT LIKE 'alpine-secdb:%' AND EXISTS (SELECT 1 FROM feeds f2 WHERE f2.name LIKE 'alpine-secdb:%' AND feeds.name =
    CASE WHEN f2.name LIKE 'alpine-secdb:alpine-secdb-%' THEN substr(f2.name, 14) ELSE 'alpine-secdb-' || substr(f2.name, 14) END);
UPDATE feeds SET name = CASE WHEN name LIKE 'osv:osv-%' THEN substr(name, 5) ELSE 'osv-' || substr(name, 5) END WHERE name LIKE 'osv:%';
UPDATE feeds SET name = CASE WHEN name LIKE 'alpine-secdb:alpine-secdb-%' THEN substr(name, 14) ELSE 'alpine-secdb-' || substr(name, 14) END
    WHERE name LIKE 'alpine-secdb:%';
UPDATE advisories SET feed = CASE WHEN feed LIKE 'osv:osv-%' THEN substr(feed, 5) ELSE 'osv-' || substr(feed, 5) END WHERE feed LIKE 'osv:%';
UPDATE advisories SET feed = CASE WHEN feed LIKE 'alpine-secdb:alpine-secdb-%' THEN substr(feed, 14) ELSE 'alpine-secdb-' || substr(feed, 14) END
    WHERE feed LIKE 'alpine-secdb:%';

-- +goose Down
ALTER TABLE feeds DROP COLUMN snapshot_version;
ALTER TABLE feeds DROP COLUMN snapshot_at;
