package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AgentRelease is an agent binary uploaded for self-updates with its
// signed release note (package release). The store keeps what it was
// given; the server checked that the binary matches the note, and agents
// verify the note's signature with their pinned key.
type AgentRelease struct {
	Version, OS, Arch string
	Note              []byte
	SHA256            string
	Size              int64
	Binary            []byte // empty in listings
	UploadedBy        string
	UploadedAt        time.Time
}

// PutAgentRelease stores a release. A release of the same version and
// platform is never replaced: ErrConflict.
func (s *DB) PutAgentRelease(ctx context.Context, r AgentRelease) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO agent_releases (version, os, arch, note, sha256, size, binary_data, uploaded_by, uploaded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.Version, r.OS, r.Arch, string(r.Note), r.SHA256, r.Size, r.Binary, r.UploadedBy, ms(r.UploadedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// AgentReleases lists the releases of version (every version when ""),
// without their binaries, by version, OS and architecture.
func (s *DB) AgentReleases(ctx context.Context, version string) ([]AgentRelease, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT version, os, arch, note, sha256, size, uploaded_by, uploaded_at
		FROM agent_releases WHERE ? = '' OR version = ? ORDER BY version, os, arch`), version, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AgentRelease
	for rows.Next() {
		var r AgentRelease
		var note string
		var at int64
		if err := rows.Scan(&r.Version, &r.OS, &r.Arch, &note, &r.SHA256, &r.Size, &r.UploadedBy, &at); err != nil {
			return nil, err
		}
		r.Note, r.UploadedAt = []byte(note), fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// AgentReleaseBinary returns one release with its binary, or ErrNotFound.
func (s *DB) AgentReleaseBinary(ctx context.Context, version, goos, goarch string) (AgentRelease, error) {
	r := AgentRelease{Version: version, OS: goos, Arch: goarch}
	var note string
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT note, sha256, size, binary_data, uploaded_by, uploaded_at
		FROM agent_releases WHERE version = ? AND os = ? AND arch = ?`), version, goos, goarch).
		Scan(&note, &r.SHA256, &r.Size, &r.Binary, &r.UploadedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return AgentRelease{}, ErrNotFound
	}
	if err != nil {
		return AgentRelease{}, err
	}
	r.Note, r.UploadedAt = []byte(note), fromMS(at)
	return r, nil
}
