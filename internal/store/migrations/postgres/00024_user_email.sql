-- +goose Up
-- A user's e-mail address, where the email notification channel reaches
-- them ('' when they have none: they are not e-mailed). It lives on the
-- user, beside the sign-in identity, because one person holds several
-- roles (stakeholder of one group, approver in a team) and is reached at
-- one address whichever role names them.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN email;
