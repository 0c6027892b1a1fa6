package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
)

// OrgRevision is one applied version of the organisation (policy as code).
type OrgRevision struct {
	Revision  int64
	YAML      string
	AppliedAt time.Time
	AppliedBy string
	Summary   string
}

// CurrentOrg returns the latest applied organisation; ErrNotFound before
// the first apply.
func (s *DB) CurrentOrg(ctx context.Context) (OrgRevision, error) {
	var r OrgRevision
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT revision, yaml, applied_at, applied_by, summary FROM org_revisions
		ORDER BY revision DESC LIMIT 1`).Scan(&r.Revision, &r.YAML, &at, &r.AppliedBy, &r.Summary)
	if errors.Is(err, sql.ErrNoRows) {
		return OrgRevision{}, ErrNotFound
	}
	r.AppliedAt = fromMS(at)
	return r, err
}

// ApplyOrg stores a new organisation revision on top of base (0 before the
// first). Two applies racing from the same base: one gets ErrConflict.
func (s *DB) ApplyOrg(ctx context.Context, base int64, yaml, by, summary string, now time.Time) (int64, error) {
	rev := base + 1
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) FROM org_revisions`).Scan(&cur); err != nil {
			return err
		}
		if cur != base {
			return ErrConflict
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO org_revisions (revision, yaml, applied_at, applied_by, summary) VALUES (?, ?, ?, ?, ?)`),
			rev, yaml, ms(now), by, summary)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return err
	})
	return rev, err
}

// Exception is a risk acceptance for the findings its selector names.
type Exception struct {
	ID            string
	Team          string
	AdvisoryID    string // "" matches any
	Package       string // "" matches any
	HostID        string // "" matches any
	Group         string // "" matches any
	Justification string
	RequestedBy   string
	RequestedAt   time.Time
	ApprovedBy    string
	ApprovedAt    *time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
	ExpiredAt     *time.Time // when expiry was processed: findings came back and owners were told
}

const exceptionCols = `id, team, advisory_id, package, host_id, group_name, justification, requested_by, requested_at,
	approved_by, approved_at, expires_at, revoked_at, expired_at`

func scanException(row interface{ Scan(...any) error }) (Exception, error) {
	var e Exception
	var req, exp int64
	var appr, rev, expd sql.NullInt64
	err := row.Scan(&e.ID, &e.Team, &e.AdvisoryID, &e.Package, &e.HostID, &e.Group, &e.Justification, &e.RequestedBy, &req,
		&e.ApprovedBy, &appr, &exp, &rev, &expd)
	if errors.Is(err, sql.ErrNoRows) {
		return Exception{}, ErrNotFound
	}
	e.RequestedAt, e.ExpiresAt, e.ApprovedAt, e.RevokedAt, e.ExpiredAt = fromMS(req), fromMS(exp), fromMSPtr(appr), fromMSPtr(rev), fromMSPtr(expd)
	return e, err
}

// CreateException stores a requested exception.
func (s *DB) CreateException(ctx context.Context, e Exception) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO exceptions (id, team, advisory_id, package, host_id, group_name,
		justification, requested_by, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.Team, e.AdvisoryID, e.Package, e.HostID, e.Group, e.Justification, e.RequestedBy, ms(e.RequestedAt), ms(e.ExpiresAt))
	return err
}

// GetException returns one exception.
func (s *DB) GetException(ctx context.Context, id string) (Exception, error) {
	return scanException(s.db.QueryRowContext(ctx, s.q(`SELECT `+exceptionCols+` FROM exceptions WHERE id = ?`), id))
}

// ListExceptions returns exceptions, newest first.
func (s *DB) ListExceptions(ctx context.Context) ([]Exception, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+exceptionCols+` FROM exceptions ORDER BY requested_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Exception
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ApproveException records the approval of a pending exception; an
// exception approved, revoked or expired already is ErrConflict.
func (s *DB) ApproveException(ctx context.Context, id, by string, now time.Time) error {
	err := s.execOne(ctx, s.q(`UPDATE exceptions SET approved_by = ?, approved_at = ?
		WHERE id = ? AND approved_at IS NULL AND revoked_at IS NULL AND expired_at IS NULL`), by, ms(now), id)
	if errors.Is(err, ErrNotFound) {
		if _, err := s.GetException(ctx, id); err != nil {
			return err
		}
		return ErrConflict
	}
	return err
}

// RevokeException ends an exception early.
func (s *DB) RevokeException(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, s.q(`UPDATE exceptions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(now), id)
}

// ExpireExceptions marks approved exceptions whose expiry has passed as
// expired and returns them, once each.
func (s *DB) ExpireExceptions(ctx context.Context, now time.Time) ([]Exception, error) {
	var out []Exception
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+exceptionCols+` FROM exceptions
			WHERE expired_at IS NULL AND revoked_at IS NULL AND expires_at <= ?`), ms(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			e, err := scanException(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, e)
		}
		rows.Close()
		p := AuditFrom(ctx)
		for i := range out {
			t := now
			out[i].ExpiredAt = &t
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE exceptions SET expired_at = ? WHERE id = ?`), ms(now), out[i].ID); err != nil {
				return err
			}
			if p != nil {
				// Appended by this transaction (see tx).
				p.Add(audit.Entry{Time: now, Actor: "server", Action: "exception.expire", Target: "exception " + out[i].ID, Outcome: "ok",
					Summary: fmt.Sprintf("exception %s of team %s expired at %s", out[i].ID, out[i].Team, out[i].ExpiresAt.UTC().Format(time.RFC3339))})
			}
		}
		return nil
	})
	return out, err
}

// ExceptionCover is an active exception resolved to the hosts it covers.
type ExceptionCover struct {
	ID         string
	AdvisoryID string   // "" any
	Package    string   // "" any
	HostIDs    []string // nil: any host
}

// ApplyExceptions marks the open findings each active exception covers
// (of one host, or of all when hostID is ""), and unmarks the rest.
func (s *DB) ApplyExceptions(ctx context.Context, hostID string, covers []ExceptionCover) (int, error) {
	marked := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		scope, args := "", []any{}
		if hostID != "" {
			scope, args = " AND host_id = ?", []any{hostID}
		}
		// The report sees whether a finding is excepted, not by what: its
		// hosts whose set of excepted findings changes are refreshed.
		excepted := func() (map[string]string, error) {
			rows, err := tx.QueryContext(ctx, s.q(`SELECT id, host_id FROM findings WHERE exception_id <> ''`+scope), args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			m := map[string]string{}
			for rows.Next() {
				var id, host string
				if err := rows.Scan(&id, &host); err != nil {
					return nil, err
				}
				m[id] = host
			}
			return m, rows.Err()
		}
		before, err := excepted()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET exception_id = '' WHERE exception_id <> ''`+scope), args...); err != nil {
			return err
		}
		for _, c := range covers {
			conds := []string{"status = 'open'", "exception_id = ''"}
			a := []any{c.ID}
			if c.AdvisoryID != "" {
				conds, a = append(conds, "advisory_id = ?"), append(a, c.AdvisoryID)
			}
			if c.Package != "" {
				conds, a = append(conds, "name = ?"), append(a, c.Package)
			}
			if hostID != "" {
				conds, a = append(conds, "host_id = ?"), append(a, hostID)
			}
			if c.HostIDs != nil {
				if len(c.HostIDs) == 0 {
					continue
				}
				conds = append(conds, "host_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(c.HostIDs)), ",")+")")
				for _, h := range c.HostIDs {
					a = append(a, h)
				}
			}
			res, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET exception_id = ? WHERE `+strings.Join(conds, " AND ")), a...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			marked += int(n)
		}
		after, err := excepted()
		if err != nil {
			return err
		}
		var hosts []string
		for id, host := range before {
			if _, ok := after[id]; !ok {
				hosts = append(hosts, host)
			}
		}
		for id, host := range after {
			if _, ok := before[id]; !ok {
				hosts = append(hosts, host)
			}
		}
		return s.refreshReport(ctx, tx, hosts)
	})
	return marked, err
}

// CalendarFeed is a secret, revocable URL serving a team's or group's
// patch calendar. Only the hash of its token is stored.
type CalendarFeed struct {
	ID        string
	Scope     string // "team" or "group"
	Name      string
	TokenHash string
	CreatedBy string
	CreatedAt time.Time
	RevokedAt *time.Time
}

const calendarCols = `id, scope, name, token_hash, created_by, created_at, revoked_at`

func scanCalendar(row interface{ Scan(...any) error }) (CalendarFeed, error) {
	var c CalendarFeed
	var created int64
	var rev sql.NullInt64
	err := row.Scan(&c.ID, &c.Scope, &c.Name, &c.TokenHash, &c.CreatedBy, &created, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return CalendarFeed{}, ErrNotFound
	}
	c.CreatedAt, c.RevokedAt = fromMS(created), fromMSPtr(rev)
	return c, err
}

// CreateCalendarFeed stores a calendar feed.
func (s *DB) CreateCalendarFeed(ctx context.Context, c CalendarFeed) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO calendar_feeds (id, scope, name, token_hash, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`), c.ID, c.Scope, c.Name, c.TokenHash, c.CreatedBy, ms(c.CreatedAt))
	return err
}

// CalendarFeedByHash finds a feed by the hash of its token.
func (s *DB) CalendarFeedByHash(ctx context.Context, hash string) (CalendarFeed, error) {
	return scanCalendar(s.db.QueryRowContext(ctx, s.q(`SELECT `+calendarCols+` FROM calendar_feeds WHERE token_hash = ?`), hash))
}

// ListCalendarFeeds lists calendar feeds, newest first.
func (s *DB) ListCalendarFeeds(ctx context.Context) ([]CalendarFeed, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+calendarCols+` FROM calendar_feeds ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CalendarFeed
	for rows.Next() {
		c, err := scanCalendar(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeCalendarFeed revokes a calendar URL.
func (s *DB) RevokeCalendarFeed(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, s.q(`UPDATE calendar_feeds SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(now), id)
}
