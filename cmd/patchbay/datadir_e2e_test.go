package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The server will not start on a data directory others can write, and
// its SQLite files are readable by its user alone.
func TestServerDataDirectoryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := run(t, "server", "--listen", "127.0.0.1:0", "--data-dir", dir)
	if err == nil || !strings.Contains(errOut, "writable by group or others") || !strings.Contains(errOut, "chmod go-w "+dir) {
		t.Fatalf("server on a 0777 data directory: err %v, stderr:\n%s", err, errOut)
	}

	sp := startServerProc(t, "server")
	sp.enrollToken(t) // a write, so the -wal and -shm files exist
	for _, f := range []string{"patchbay.db", "patchbay.db-wal", "patchbay.db-shm", "ca.key", "server.key", "job.key", "admin.token", "admin.password"} {
		fi, err := os.Stat(filepath.Join(sp.dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
}
