package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// KBPackage names affected packages: a name and, optionally, versions.
type KBPackage struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions,omitempty"`
}

// KBEntry is a problem met after patching, with its fix or workaround.
type KBEntry struct {
	ID        string
	Title     string
	Problem   string
	Symptoms  string
	Fix       string
	Packages  []KBPackage
	Distro    string // "" any; "debian", "ubuntu 22.04"
	Changes   []string
	Hosts     []string
	Status    string // draft, published
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PutKBEntry creates or replaces an entry.
func (s *DB) PutKBEntry(ctx context.Context, e KBEntry) error {
	pk, _ := json.Marshal(e.Packages)
	ch, _ := json.Marshal(nonNilSlice(e.Changes))
	hs, _ := json.Marshal(nonNilSlice(e.Hosts))
	_, err := s.exec(ctx, s.q(`INSERT INTO kb_entries (id, title, problem, symptoms, fix, packages, distro, changes, hosts,
		status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, problem = excluded.problem, symptoms = excluded.symptoms,
		fix = excluded.fix, packages = excluded.packages, distro = excluded.distro, changes = excluded.changes,
		hosts = excluded.hosts, status = excluded.status, updated_at = excluded.updated_at`),
		e.ID, e.Title, e.Problem, e.Symptoms, e.Fix, string(pk), e.Distro, string(ch), string(hs), e.Status, e.CreatedBy,
		ms(e.CreatedAt), ms(e.UpdatedAt))
	return err
}

const kbCols = `id, title, problem, symptoms, fix, packages, distro, changes, hosts, status, created_by, created_at, updated_at`

func scanKB(row interface{ Scan(...any) error }) (KBEntry, error) {
	var e KBEntry
	var pk, ch, hs string
	var created, updated int64
	err := row.Scan(&e.ID, &e.Title, &e.Problem, &e.Symptoms, &e.Fix, &pk, &e.Distro, &ch, &hs, &e.Status, &e.CreatedBy, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return KBEntry{}, ErrNotFound
	}
	if err != nil {
		return KBEntry{}, err
	}
	e.CreatedAt, e.UpdatedAt = fromMS(created), fromMS(updated)
	for _, f := range []struct {
		s string
		v any
	}{{pk, &e.Packages}, {ch, &e.Changes}, {hs, &e.Hosts}} {
		if err := json.Unmarshal([]byte(f.s), f.v); err != nil {
			return KBEntry{}, err
		}
	}
	return e, nil
}

// GetKBEntry returns one entry.
func (s *DB) GetKBEntry(ctx context.Context, id string) (KBEntry, error) {
	return scanKB(s.db.QueryRowContext(ctx, s.q(`SELECT `+kbCols+` FROM kb_entries WHERE id = ?`), id))
}

// ListKBEntries returns every entry, newest first.
func (s *DB) ListKBEntries(ctx context.Context) ([]KBEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+kbCols+` FROM kb_entries ORDER BY updated_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KBEntry
	for rows.Next() {
		e, err := scanKB(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SignOff is a stakeholder's verdict on a change for one group.
type SignOff struct {
	ChangeID string
	Group    string
	By       string
	OK       bool
	Problem  string
	KBID     string
	At       time.Time
}

// PutSignOff records a sign-off; a group signs off once (ErrConflict).
func (s *DB) PutSignOff(ctx context.Context, so SignOff) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.putSignOff(ctx, tx, so) })
}

func (s *DB) putSignOff(ctx context.Context, q queryer, so SignOff) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO signoffs (change_id, group_name, by_user, ok, problem, kb_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		so.ChangeID, so.Group, so.By, so.OK, so.Problem, so.KBID, ms(so.At))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// SignOffs returns a change's sign-offs.
func (s *DB) SignOffs(ctx context.Context, changeID string) ([]SignOff, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT change_id, group_name, by_user, ok, problem, kb_id, at FROM signoffs WHERE change_id = ? ORDER BY at`), changeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SignOff
	for rows.Next() {
		var so SignOff
		var at int64
		if err := rows.Scan(&so.ChangeID, &so.Group, &so.By, &so.OK, &so.Problem, &so.KBID, &at); err != nil {
			return nil, err
		}
		so.At = fromMS(at)
		out = append(out, so)
	}
	return out, rows.Err()
}

// RetroNote is a note or action item of a change's retrospective.
type RetroNote struct {
	At     time.Time
	Author string
	Kind   string // note, action
	Text   string
}

// AddRetroNote stores a note.
func (s *DB) AddRetroNote(ctx context.Context, changeID string, n RetroNote) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO retro_notes (change_id, at, author, kind, text) VALUES (?, ?, ?, ?, ?)`),
		changeID, ms(n.At), n.Author, n.Kind, n.Text)
	return err
}

// RetroNotes returns a change's notes, oldest first.
func (s *DB) RetroNotes(ctx context.Context, changeID string) ([]RetroNote, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, author, kind, text FROM retro_notes WHERE change_id = ? ORDER BY at`), changeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RetroNote
	for rows.Next() {
		var n RetroNote
		var at int64
		if err := rows.Scan(&at, &n.Author, &n.Kind, &n.Text); err != nil {
			return nil, err
		}
		n.At = fromMS(at)
		out = append(out, n)
	}
	return out, rows.Err()
}
