package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchbay/patchbay/internal/durable"
)

// Pending records a swapped-in binary on trial: until Confirm, the
// previous binary is kept at path.prev and is put back by
// RevertIfOverdue once Deadline passes.
type Pending struct {
	Version  string    `json:"version"`
	Deadline time.Time `json:"deadline"`
}

// DefaultKeyPath is where agent packages pin the release verifier key.
const DefaultKeyPath = "/etc/patchbay/release.pub"

func pendingPath(path string) string { return path + ".pending" }

// PrevPath is where Install keeps the binary it replaced.
func PrevPath(path string) string { return path + ".prev" }

// Install replaces the executable at path with binary (already verified
// with Verify) atomically: the old binary is kept at PrevPath(path) and a
// pending marker with the deadline is written before the rename, so a
// crash at any point leaves either the old binary in place or the new one
// on trial with a way back.
func Install(path string, binary []byte, r Release, deadline time.Time) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("self-update: read the running binary: %w", err)
	}
	if err := durable.WriteFile(PrevPath(path), old, 0o755); err != nil {
		return fmt.Errorf("self-update: keep the previous binary: %w", err)
	}
	marker, err := json.Marshal(Pending{Version: r.Version, Deadline: deadline.UTC()})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(pendingPath(path), marker, 0o600); err != nil {
		return fmt.Errorf("self-update: %w", err)
	}
	if err := durable.WriteFile(path, binary, 0o755); err != nil {
		os.Remove(pendingPath(path))
		return fmt.Errorf("self-update: install the new binary: %w", err)
	}
	return nil
}

// Confirm ends the trial of the binary at path: it checked in. The
// previous binary stays at PrevPath for a manual rollback.
func Confirm(path string) error {
	err := os.Remove(pendingPath(path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("self-update: confirm: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// RevertIfOverdue puts the previous binary back when the one on trial has
// not been confirmed by its deadline, and reports whether it did. Without
// a pending marker it does nothing.
func RevertIfOverdue(path string, now time.Time) (bool, error) {
	p, err := ReadPending(path)
	if err != nil || p == nil {
		return false, err
	}
	if !now.After(p.Deadline) {
		return false, nil
	}
	if err := os.Rename(PrevPath(path), path); err != nil {
		return false, fmt.Errorf("self-update: put the previous binary back: %w", err)
	}
	if err := os.Remove(pendingPath(path)); err != nil {
		return true, fmt.Errorf("self-update: reverted, but: %w", err)
	}
	return true, syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadPending returns the trial marker of the binary at path, or nil when
// none is on trial.
func ReadPending(path string) (*Pending, error) {
	b, err := os.ReadFile(pendingPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("self-update: %w", err)
	}
	var p Pending
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("self-update: pending marker %s: %w", pendingPath(path), err)
	}
	return &p, nil
}
