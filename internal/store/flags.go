package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Flag is a fleet-wide switch such as the emergency stop.
type Flag struct {
	Name string
	On   bool
	By   string
	At   time.Time
	Note string
}

// GetFlag returns a flag; an unknown one is off.
func (s *DB) GetFlag(ctx context.Context, name string) (Flag, error) {
	f := Flag{Name: name}
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT is_on, set_by, set_at, note FROM flags WHERE name = ?`), name).Scan(&f.On, &f.By, &at, &f.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	f.At = fromMS(at)
	return f, err
}

// SetFlag sets a flag.
func (s *DB) SetFlag(ctx context.Context, f Flag) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO flags (name, is_on, set_by, set_at, note) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET is_on = excluded.is_on, set_by = excluded.set_by, set_at = excluded.set_at, note = excluded.note`),
		f.Name, f.On, f.By, ms(f.At), f.Note)
	return err
}
