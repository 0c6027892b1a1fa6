-- +goose Up
-- The ticket a change request has in an issue tracker (the jira
-- notification channel): created on the change's first event, then
-- commented and transitioned as the change moves; the console links it.
CREATE TABLE change_issues (
    change_id  TEXT NOT NULL,
    tracker    TEXT NOT NULL,
    issue_key  TEXT NOT NULL,
    url        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (change_id, tracker)
);

-- +goose Down
DROP TABLE change_issues;
