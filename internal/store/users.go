package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// User is a person who signs in to the console or owns API tokens.
type User struct {
	ID           string
	Username     string
	PasswordHash string // argon2id, encoded by the server
	Role         string
	// Email is where the email channel reaches the user; "" when none.
	Email      string
	CreatedAt  time.Time
	DisabledAt *time.Time
}

// CreateUser stores a new user; a taken username is ErrConflict.
func (s *DB) CreateUser(ctx context.Context, u User) (User, error) {
	_, err := s.exec(ctx, s.q(`INSERT INTO users (id, username, password_hash, role, created_at, disabled_at, email)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), u.ID, u.Username, u.PasswordHash, u.Role, ms(u.CreatedAt), msPtr(u.DisabledAt), u.Email)
	if isUniqueViolation(err) {
		return User{}, ErrConflict
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = fromMS(ms(u.CreatedAt))
	return u, nil
}

const userCols = `id, username, password_hash, role, created_at, disabled_at, email`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	var disabled sql.NullInt64
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &created, &disabled, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt, u.DisabledAt = fromMS(created), fromMSPtr(disabled)
	return u, err
}

// GetUser returns the user with the ID.
func (s *DB) GetUser(ctx context.Context, id string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
}

// GetUserByName returns the user with the username.
func (s *DB) GetUserByName(ctx context.Context, username string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE username = ?`), username))
}

// ListUsers returns every user, by username.
func (s *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetUserRole changes a user's role.
func (s *DB) SetUserRole(ctx context.Context, id, role string) error {
	return s.execOne(ctx, s.q(`UPDATE users SET role = ? WHERE id = ?`), role, id)
}

// SetUserEmail changes a user's e-mail address ("" removes it).
func (s *DB) SetUserEmail(ctx context.Context, id, email string) error {
	return s.execOne(ctx, s.q(`UPDATE users SET email = ? WHERE id = ?`), email, id)
}

// SetUserPassword replaces a user's password hash.
func (s *DB) SetUserPassword(ctx context.Context, id, hash string) error {
	return s.execOne(ctx, s.q(`UPDATE users SET password_hash = ? WHERE id = ?`), hash, id)
}

// DisableUser stops a user from signing in; disabling twice keeps the first time.
func (s *DB) DisableUser(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, s.q(`UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?`), ms(now), id)
}
