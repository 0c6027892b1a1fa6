package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateSQLite makes the SQLite database at path readable and writable by
// this process's user alone before it is opened: it creates a missing file
// with mode 0600 (SQLite gives the -wal and -shm files it creates the
// database file's mode), and tightens an existing database, -wal or -shm
// file open to group or others to 0600. It returns what it tightened.
func privateSQLite(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	var fixed []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fixed, fmt.Errorf("sqlite: %w", err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fixed, fmt.Errorf("sqlite: make %s private: %w", p, err)
		}
		fixed = append(fixed, fmt.Sprintf("%s was %v, now %v", p, fi.Mode().Perm(), fs.FileMode(0o600)))
	}
	return fixed, nil
}

// FixedFileModes lists the SQLite files Open found open to group or others
// and made private, for the server to log. Empty on PostgreSQL.
func (s *DB) FixedFileModes() []string { return s.fixedModes }
