package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// APIToken is a bearer token for the API. Only its SHA-256 hash is stored.
type APIToken struct {
	ID         string
	Name       string
	Hash       string
	Prefix     string // the first characters of the secret, to recognise it in lists
	Role       string
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// CreateAPIToken stores a token.
func (s *DB) CreateAPIToken(ctx context.Context, t APIToken) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO api_tokens
		(id, name, hash, prefix, role, user_id, created_at, expires_at, last_used_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.Name, t.Hash, t.Prefix, t.Role, t.UserID, ms(t.CreatedAt), msPtr(t.ExpiresAt), msPtr(t.LastUsedAt), msPtr(t.RevokedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

const apiTokenCols = `id, name, hash, prefix, role, user_id, created_at, expires_at, last_used_at, revoked_at`

func scanAPIToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var created int64
	var exp, used, rev sql.NullInt64
	err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Prefix, &t.Role, &t.UserID, &created, &exp, &used, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, ErrNotFound
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMS(created), fromMSPtr(exp), fromMSPtr(used), fromMSPtr(rev)
	return t, err
}

// GetAPITokenByHash finds a token by the hash of its secret. Revoked and
// expired tokens are returned too, so the caller can say why it refuses.
func (s *DB) GetAPITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	return scanAPIToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiTokenCols+` FROM api_tokens WHERE hash = ?`), hash))
}

// ListAPITokens returns every token, newest first.
func (s *DB) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiTokenCols+` FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes a token; revoking twice keeps the first time.
func (s *DB) RevokeAPIToken(ctx context.Context, id string, now time.Time) error {
	if err := s.execOne(ctx, s.q(`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(now), id); err != nil {
		return err
	}
	return nil
}

// TouchAPIToken records when a token was last used.
func (s *DB) TouchAPIToken(ctx context.Context, id string, now time.Time) error {
	return affected(s.wdb.ExecContext(ctx, s.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), ms(now), id))
}

// EnrollToken lets hosts enroll. Only the hash of its secret is stored.
type EnrollToken struct {
	ID        string
	Hash      string
	Prefix    string
	MaxHosts  int // 0: no limit
	Uses      int
	ExpiresAt time.Time
	CreatedBy string
	CreatedAt time.Time
	RevokedAt *time.Time
	Labels    map[string]string // given to every host enrolled with the token, as user labels
}

// CreateEnrollToken stores an enrollment token.
func (s *DB) CreateEnrollToken(ctx context.Context, t EnrollToken) error {
	labels, err := json.Marshal(nonNilMap(t.Labels))
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, s.q(`INSERT INTO enroll_tokens
		(id, hash, prefix, max_hosts, uses, expires_at, created_by, created_at, revoked_at, labels)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.Hash, t.Prefix, t.MaxHosts, t.Uses, ms(t.ExpiresAt), t.CreatedBy, ms(t.CreatedAt), msPtr(t.RevokedAt), string(labels))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

const enrollTokenCols = `id, hash, prefix, max_hosts, uses, expires_at, created_by, created_at, revoked_at, labels`

func scanEnrollToken(row interface{ Scan(...any) error }) (EnrollToken, error) {
	var t EnrollToken
	var exp, created int64
	var rev sql.NullInt64
	var labels string
	err := row.Scan(&t.ID, &t.Hash, &t.Prefix, &t.MaxHosts, &t.Uses, &exp, &t.CreatedBy, &created, &rev, &labels)
	if errors.Is(err, sql.ErrNoRows) {
		return EnrollToken{}, ErrNotFound
	}
	if err != nil {
		return EnrollToken{}, err
	}
	t.ExpiresAt, t.CreatedAt, t.RevokedAt = fromMS(exp), fromMS(created), fromMSPtr(rev)
	if err := json.Unmarshal([]byte(labels), &t.Labels); err != nil {
		return EnrollToken{}, fmt.Errorf("enroll token %s labels: %w", t.ID, err)
	}
	return t, nil
}

// ListEnrollTokens returns every enrollment token, newest first.
func (s *DB) ListEnrollTokens(ctx context.Context) ([]EnrollToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+enrollTokenCols+` FROM enroll_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EnrollToken
	for rows.Next() {
		t, err := scanEnrollToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeEnrollToken revokes an enrollment token; hosts already enrolled
// with it stay enrolled.
func (s *DB) RevokeEnrollToken(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, s.q(`UPDATE enroll_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(now), id)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
