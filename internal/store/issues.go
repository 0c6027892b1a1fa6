package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ChangeIssue is the ticket a change has in an issue tracker.
type ChangeIssue struct {
	Change  string
	Tracker string // the notification channel: "jira"
	Key     string // "OPS-12"
	URL     string // the issue in the tracker's web UI
	Created time.Time
}

// GetChangeIssue returns change's ticket in tracker; ErrNotFound when it
// has none.
func (s *DB) GetChangeIssue(ctx context.Context, change, tracker string) (ChangeIssue, error) {
	ci := ChangeIssue{Change: change, Tracker: tracker}
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT issue_key, url, created_at FROM change_issues WHERE change_id = ? AND tracker = ?`),
		change, tracker).Scan(&ci.Key, &ci.URL, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ci, ErrNotFound
	}
	ci.Created = fromMS(at)
	return ci, err
}

// PutChangeIssue records a change's ticket; a ticket already recorded
// for the change in that tracker is kept (the first one wins).
func (s *DB) PutChangeIssue(ctx context.Context, ci ChangeIssue) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO change_issues (change_id, tracker, issue_key, url, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (change_id, tracker) DO NOTHING`), ci.Change, ci.Tracker, ci.Key, ci.URL, ms(ci.Created))
	return err
}
