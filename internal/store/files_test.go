package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The SQLite database holds password hashes, token hashes and the whole
// inventory: its files are readable by the server's user alone, whatever
// the umask, and an existing database open to others is tightened.
func TestSQLiteFilesAreReadableOnlyByTheServer(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "patchbay.db")
	db, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, User{ID: "u1", Username: "alice", PasswordHash: "h", Role: "admin", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if m := fileMode(t, f); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
		}
	}
	if fixed := db.FixedFileModes(); len(fixed) != 0 {
		t.Errorf("a new database reports tightened files %q", fixed)
	}
	db.Close()

	// A database an earlier release left at 0644 (its -wal and -shm too).
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.WriteFile(f, nil, 0o600); err != nil && f != path {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db = mustOpen(t, "sqlite:"+path)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if m := fileMode(t, f); m != 0o600 {
			t.Errorf("reopened: %s has mode %v, want 0600", filepath.Base(f), m)
		}
	}
	want := []string{path + " was -rw-r--r--, now -rw-------", path + "-wal was -rw-r--r--, now -rw-------", path + "-shm was -rw-r--r--, now -rw-------"}
	if got := db.FixedFileModes(); !slices.Equal(got, want) {
		t.Errorf("FixedFileModes = %q, want %q", got, want)
	}
}
