package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// dataDir makes a data directory like a server's: keys, an audit head and
// a SQLite database with one row written through the store.
func dataDir(t *testing.T) (string, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"ca.crt": "CA CERT\n", "ca.key": "CA KEY\n", "server.crt": "SERVER CERT\n", "server.key": "SERVER KEY\n",
		"job.key": "JOB KEY\n", "admin.token": "pbt_secret\n", "audit-head.json": `{"seq":1}` + "\n",
	} {
		mode := os.FileMode(0o600)
		if strings.HasSuffix(name, ".crt") {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, ".job.key.tmp123"), []byte("half-written"), 0o600)
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "patchbay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Heartbeat(context.Background(), time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return dir, db
}

var at = time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC)

func TestBackupAndRestoreGiveBackTheKeysAndTheDatabase(t *testing.T) {
	src, db := dataDir(t)
	out := filepath.Join(t.TempDir(), "pb.tar.gz")
	m, err := Write(context.Background(), out, src, db.Snapshot, at)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// The snapshot's schema is the live database's (the newest migration).
	live, err := db.SchemaVersion(context.Background())
	if err != nil || live < 15 {
		t.Fatalf("live schema version %d (%v)", live, err)
	}
	if m.Database != "sqlite" || m.SchemaVersion != live || m.Version != 1 {
		t.Errorf("manifest: database %q schema %d version %d, want sqlite %d 1", m.Database, m.SchemaVersion, m.Version, live)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, " "), "admin.token audit-head.json ca.crt ca.key job.key server.crt server.key patchbay.db"; got != want {
		t.Errorf("archived files: %s, want %s", got, want)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	f, _ := os.Open(out)
	defer f.Close()
	if _, err := Restore(f, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ca.key": 0o600, "ca.crt": 0o644, "job.key": 0o600, "admin.token": 0o600, "patchbay.db": 0o600} {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("restored %s: mode %v (%v), want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "job.key")); string(b) != "JOB KEY\n" {
		t.Errorf("restored job.key: %q", b)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o700 {
		t.Errorf("restored dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dst)
	if len(entries) != 8 {
		t.Errorf("restored dir holds %d entries, want 8", len(entries))
	}
	rdb, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dst, "patchbay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if v, err := rdb.SchemaVersion(context.Background()); err != nil || v != live {
		t.Errorf("restored database schema %d (%v), want %d", v, err, live)
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	src, db := dataDir(t)
	out := filepath.Join(t.TempDir(), "pb.tar.gz")
	os.WriteFile(out, []byte("precious"), 0o600)
	if _, err := Write(context.Background(), out, src, db.Snapshot, at); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("overwrote an existing file: %v", err)
	}
	if _, err := Write(context.Background(), filepath.Join(t.TempDir(), "x.tar.gz"), t.TempDir(), nil, at); err == nil || !strings.Contains(err.Error(), "no ca.key") {
		t.Fatalf("backed up a directory that is not a data directory: %v", err)
	}
}

func TestKeysOnlyBackupHoldsNoDatabase(t *testing.T) {
	src, _ := dataDir(t)
	out := filepath.Join(t.TempDir(), "keys.tar.gz")
	m, err := Write(context.Background(), out, src, nil, at)
	if err != nil {
		t.Fatal(err)
	}
	if m.Database != "" || len(m.Files) != 7 {
		t.Errorf("keys-only manifest: database %q, %d files, want none and 7", m.Database, len(m.Files))
	}
}

// rewrite copies the archive at path, letting edit change the manifest
// and each file's content.
func rewrite(t *testing.T, path string, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, _ := gzip.NewReader(f)
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestRestoreRefusesDamagedAndForeignArchives(t *testing.T) {
	src, db := dataDir(t)
	out := filepath.Join(t.TempDir(), "pb.tar.gz")
	if _, err := Write(context.Background(), out, src, db.Snapshot, at); err != nil {
		t.Fatal(err)
	}
	editManifest := func(f func(m map[string]any)) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name != "manifest.json" {
				return b
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			f(m)
			b, _ = json.Marshal(m)
			return b
		}
	}
	full, _ := os.ReadFile(out)
	for _, tc := range []struct {
		name    string
		archive []byte
		wantErr string
	}{
		{"a changed key is found by its hash", rewrite(t, out, func(name string, b []byte) []byte {
			if name == "job.key" {
				return []byte("JOB KEY\x00")
			}
			return b
		}), "job.key has SHA-256"},
		{"a newer manifest version is refused", rewrite(t, out, editManifest(func(m map[string]any) { m["version"] = 2 })),
			"backup format version 2: this patchbay reads versions up to 1"},
		{"a file name leaving the directory is refused", rewrite(t, out, editManifest(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["name"] = "../evil"
		})), `only plain, distinct names`},
		{"a cut archive is refused", full[:len(full)/2], ""},
		{"something else is refused", []byte("hello"), "not a Patchbay backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "restored")
			_, err := Restore(bytes.NewReader(tc.archive), dst)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if entries, _ := os.ReadDir(dst); len(entries) != 0 {
				t.Errorf("a refused restore left %d entries behind", len(entries))
			}
		})
	}
}

func TestRestoreOnlyIntoAnEmptyDirectory(t *testing.T) {
	src, db := dataDir(t)
	out := filepath.Join(t.TempDir(), "pb.tar.gz")
	if _, err := Write(context.Background(), out, src, db.Snapshot, at); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	if _, err := Restore(f, src); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("restored over a live data directory: %v", err)
	}
}

func TestPruneKeepsTheNewestScheduledBackups(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"patchbay-backup-20261201T000000Z.tar.gz", "patchbay-backup-20261203T000000Z.tar.gz",
		"patchbay-backup-20261202T000000Z.tar.gz", "patchbay-backup-20261204T000000Z.tar.gz", "my-own.tar.gz", "patchbay-backup-latest.tar.gz"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	removed, err := Prune(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || filepath.Base(removed[0]) != "patchbay-backup-20261201T000000Z.tar.gz" || filepath.Base(removed[1]) != "patchbay-backup-20261202T000000Z.tar.gz" {
		t.Errorf("removed %v, want the two oldest", removed)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != "my-own.tar.gz patchbay-backup-20261203T000000Z.tar.gz patchbay-backup-20261204T000000Z.tar.gz patchbay-backup-latest.tar.gz" {
		t.Errorf("left %s", got)
	}
	if got := ScheduledName(time.Date(2026, 12, 6, 7, 8, 9, 0, time.FixedZone("CET", 3600))); got != "patchbay-backup-20261206T060809Z.tar.gz" {
		t.Errorf("ScheduledName: %s", got)
	}
}
