package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupOfAPostgreSQLServerIsKeysOnly: with the server's config file
// naming PostgreSQL, `patchbay backup` says to use pg_dump and --keys-only,
// and --keys-only archives the data directory the file names, which
// `restore --check` accepts.
func TestBackupOfAPostgreSQLServerIsKeysOnly(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	for _, name := range []string{"ca.crt", "ca.key", "job.key", "server.crt", "server.key"} {
		os.WriteFile(filepath.Join(data, name), []byte(name+"\n"), 0o600)
	}
	conf := filepath.Join(dir, "server.yaml")
	os.WriteFile(conf, []byte("data-dir: "+data+"\ndatabase: postgres://patchbay@db.example.com/patchbay\n"), 0o600)
	out := filepath.Join(dir, "keys.tar.gz")
	if _, errOut, err := run(t, "backup", "--config", conf, "--out", out); err == nil || !strings.Contains(errOut, "pg_dump") || !strings.Contains(errOut, "--keys-only") {
		t.Fatalf("backup of a PostgreSQL server: %v %s; want an error pointing to pg_dump and --keys-only", err, errOut)
	}
	stdout, errOut, err := run(t, "backup", "--config", conf, "--out", out, "--keys-only")
	if err != nil || !strings.Contains(stdout, "database: not included (--keys-only)") {
		t.Fatalf("keys-only backup: %v\n%s%s", err, stdout, errOut)
	}
	stdout, errOut, err = run(t, "restore", "--check", "--from", out)
	if err != nil || !strings.Contains(stdout, "ca.crt, ca.key, job.key, server.crt, server.key") {
		t.Fatalf("restore --check: %v\n%s%s", err, stdout, errOut)
	}
	if _, errOut, err := run(t, "restore", "--from", out, "--data-dir", data); err == nil || !strings.Contains(errOut, "is not empty") {
		t.Fatalf("restore over the data directory: %v %s", err, errOut)
	}
}
