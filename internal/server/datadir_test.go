package server

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/testenv"
)

func bootstrapIn(t *testing.T, dir string) (Identity, error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	return Bootstrap(cfg, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
}

// A data directory others can write lets them plant the keys the server
// then trusts: the server refuses to start on one, and creates nothing in
// it.
func TestBootstrapRefusesADataDirOthersCanWrite(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o777, false}, {0o770, false}, {0o757, false}, {0o1777 | os.ModeSticky, false},
		{0o700, true}, {0o750, true}, {0o755, true},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := bootstrapIn(t, dir)
			if tt.ok {
				if err != nil {
					t.Fatalf("Bootstrap in a %v directory: %v", tt.mode, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "writable by group or others") || !strings.Contains(err.Error(), "chmod go-w "+dir) {
				t.Fatalf("Bootstrap in a %v directory = %v, want a refusal saying to run chmod go-w", tt.mode, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the refused start created %d files in the data directory", len(entries))
			}
		})
	}
}

// A key file someone else owns, or that others may read or write, is not
// used: a planted job.key would become the key agents pin.
func TestBootstrapRefusesKeyFilesPlantedOrOpenToOthers(t *testing.T) {
	for _, name := range []string{"job.key", "ca.key", "server.key", "ca.crt"} {
		t.Run(name+" owned by another user", func(t *testing.T) {
			testenv.NeedRoot(t, "planting a key owned by another user needs chown")
			dir := t.TempDir()
			if _, err := bootstrapIn(t, dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			_, err := bootstrapIn(t, dir)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "owned by uid 65534") {
				t.Fatalf("Bootstrap with %s owned by uid 65534 = %v, want a refusal naming the file and its owner", name, err)
			}
		})
	}
	for _, tt := range []struct {
		name string
		mode os.FileMode
	}{
		{"job.key", 0o644}, {"job.key", 0o640}, {"job.key", 0o602}, {"ca.key", 0o604}, {"server.key", 0o660}, {"ca.crt", 0o666},
	} {
		t.Run(tt.name+" "+tt.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := bootstrapIn(t, dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.name)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := bootstrapIn(t, dir)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod") {
				t.Fatalf("Bootstrap with %s mode %v = %v, want a refusal saying how to fix it", tt.name, tt.mode, err)
			}
		})
	}
	t.Run("a planted job.key is never used", func(t *testing.T) {
		dir := t.TempDir()
		first, err := bootstrapIn(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "job.key")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The server's own key, as the server wrote it, is used again.
		again, err := bootstrapIn(t, dir)
		if err != nil || !again.JobKey.Equal(first.JobKey) {
			t.Fatalf("second start: %v, same key %v", err, err == nil && again.JobKey.Equal(first.JobKey))
		}
		// A symbolic link to a key elsewhere is refused as well.
		elsewhere := filepath.Join(t.TempDir(), "job.key")
		if err := os.WriteFile(elsewhere, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, path); err != nil {
			t.Fatal(err)
		}
		if _, err := bootstrapIn(t, dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("Bootstrap with job.key a symbolic link = %v, want a refusal", err)
		}
	})
}

func TestCheckinRateRefusalIsTooManyRequests(t *testing.T) {
	err := error(&store.CheckinRateError{New: 6000, Allowed: 5166, Limit: 10000, RetryAt: time.Date(2026, 11, 24, 13, 6, 0, 0, time.UTC)})
	e := errorResponse(errors.Join(errors.New("context"), err))
	if e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.Message != err.Error() {
		t.Fatalf("errorResponse = %+v, want 429 rate_limited with the store's message", e)
	}
}
