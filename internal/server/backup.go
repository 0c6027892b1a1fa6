package server

import (
	"context"
	"os"
	"path/filepath"

	"github.com/patchbay/patchbay/internal/backup"
)

// backupLoop writes a backup into BackupDir every BackupInterval (the first
// one interval after the start) and keeps the newest BackupKeep, until ctx
// ends. A failed backup is logged and tried again at the next tick.
func (s *Server) backupLoop(ctx context.Context) {
	ticker(ctx, s.cfg.BackupInterval, func() {
		if _, err := s.scheduledBackup(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled backup failed", "err", err, "dir", s.cfg.BackupDir)
		}
	})
}

// scheduledBackup writes one backup into BackupDir and prunes the old
// ones. It returns the archive's path.
func (s *Server) scheduledBackup(ctx context.Context) (string, error) {
	if err := os.MkdirAll(s.cfg.BackupDir, 0o700); err != nil {
		return "", err
	}
	if s.audit.head != nil {
		// The archive's head checkpoint then is as new as it can be while
		// it still trails the snapshot taken after it.
		if err := s.audit.head.flush(); err != nil {
			s.log.Warn("flush the audit head before a backup", "err", err)
		}
	}
	now := s.now()
	out := filepath.Join(s.cfg.BackupDir, backup.ScheduledName(now))
	m, err := backup.Write(ctx, out, s.cfg.DataDir, s.store.Snapshot, now)
	if err != nil {
		return "", err
	}
	removed, err := backup.Prune(s.cfg.BackupDir, s.cfg.BackupKeep)
	s.log.Info("scheduled backup written", "path", out, "schema_version", m.SchemaVersion, "files", len(m.Files), "removed_old", len(removed))
	return out, err
}
