package agentcmd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/release"
)

// The trial file is what the unit's sh guard parses: three lines, the
// previous binary beside the installed one, the deadline in Unix seconds.
func TestInstallOnTrialWritesTheGuardsTrialFileBeforeTheSwap(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(exe, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC) // 1796547600
	if err := installOnTrial(exe, []byte("new"), release.Release{Version: "v1.1.0"}, deadline); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(exe + ".trial")
	if err != nil {
		t.Fatal(err)
	}
	if want := "previous=" + exe + ".prev\ndeadline=1796547600\nstarts=0\n"; string(got) != want {
		t.Errorf("trial file:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(exe + ".trial"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("trial file mode: %v %v, want 0600", fi, err)
	}
	for path, want := range map[string]string{exe: "new", exe + ".prev": "old"} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}

	if err := clearTrial(exe); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(exe + ".trial"); !os.IsNotExist(err) {
		t.Errorf("trial file after clearTrial: %v", err)
	}
	if err := clearTrial(exe); err != nil {
		t.Errorf("clearTrial without a trial: %v", err)
	}
}

// A swap that fails leaves no trial file for the guard to act on.
func TestInstallOnTrialThatFailsLeavesNoTrialFile(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "patchbay-agent") // missing: Install cannot read it
	if err := installOnTrial(exe, []byte("new"), release.Release{Version: "v1.1.0"}, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("installOnTrial over a missing binary succeeded")
	}
	if _, err := os.Stat(exe + ".trial"); !os.IsNotExist(err) {
		t.Errorf("trial file after a failed swap: %v", err)
	}
}
