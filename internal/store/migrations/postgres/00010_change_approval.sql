-- +goose Up
-- An approval is bound to the plan it approved: approved_digest is the
-- SHA-256 of the plan's canonical encoding (internal/change.Content) when
-- the change was approved; starting it checks the stored plan still has it.
-- editors lists (JSON array) everyone who edited the change: none of them
-- may approve it.
ALTER TABLE changes ADD COLUMN approved_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE changes ADD COLUMN editors TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE changes DROP COLUMN editors;
ALTER TABLE changes DROP COLUMN approved_digest;
