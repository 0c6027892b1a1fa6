package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/backup"
	"github.com/patchbay/patchbay/internal/store"
)

// TestScheduledBackupsAreRestorableAndPruned: the server's scheduled
// backup holds its keys and a database that opens, and only the newest
// BackupKeep archives stay.
func TestScheduledBackupsAreRestorableAndPruned(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	ts.cfg.BackupDir = filepath.Join(t.TempDir(), "backups")
	ts.cfg.BackupKeep = 2
	ctx := context.Background()
	if _, err := ts.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for range 3 {
		p, err := ts.scheduledBackup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		clock.advance(time.Hour)
	}
	if filepath.Base(paths[0]) != "patchbay-backup-20261206T060000Z.tar.gz" {
		t.Errorf("first backup named %s", filepath.Base(paths[0]))
	}
	entries, _ := os.ReadDir(ts.cfg.BackupDir)
	if len(entries) != 2 || entries[0].Name() != "patchbay-backup-20261206T070000Z.tar.gz" || entries[1].Name() != "patchbay-backup-20261206T080000Z.tar.gz" {
		t.Fatalf("backup dir holds %v, want the two newest", entries)
	}
	f, err := os.Open(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	m, err := backup.Restore(f, dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.Database != "sqlite" {
		t.Errorf("scheduled backup holds database %q", m.Database)
	}
	for _, name := range []string{"ca.key", "job.key", "server.key", "admin.token", "patchbay.db"} {
		if _, err := os.Stat(filepath.Join(dst, name)); err != nil {
			t.Errorf("restored backup lacks %s: %v", name, err)
		}
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dst, "patchbay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetUserByName(ctx, "admin"); err != nil {
		t.Errorf("the restored database has no admin user: %v", err)
	}
}
