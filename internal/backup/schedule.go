package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Scheduled backups are named by the time they were made, so their names
// sort in time order.
const (
	scheduledPrefix = "patchbay-backup-"
	scheduledSuffix = ".tar.gz"
	scheduledTime   = "20060102T150405Z"
)

// ScheduledName is the file name of a scheduled backup made at t.
func ScheduledName(t time.Time) string {
	return scheduledPrefix + t.UTC().Format(scheduledTime) + scheduledSuffix
}

// Prune removes the oldest scheduled backups in dir beyond the newest
// keep. Only files named like ScheduledName are considered, so other files
// in dir are never removed. It returns the paths it removed.
func Prune(dir string, keep int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prune backups: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, scheduledPrefix) || !strings.HasSuffix(n, scheduledSuffix) {
			continue
		}
		if _, err := time.Parse(scheduledTime, strings.TrimSuffix(strings.TrimPrefix(n, scheduledPrefix), scheduledSuffix)); err != nil {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	var removed []string
	for len(names) > max(keep, 1) {
		p := filepath.Join(dir, names[0])
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("prune backups: %w", err)
		}
		removed = append(removed, p)
		names = names[1:]
	}
	return removed, nil
}
