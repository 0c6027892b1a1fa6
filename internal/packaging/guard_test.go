package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// The guard as shipped, run by the real sh.
const guardScript = "files/agent-revert-guard"

// guardDir is an install directory with a new binary on trial: bin exits 1
// at once (a release that crashes before its main), bin.prev prints "old".
type guardDir struct {
	bin string
}

const (
	crashing = "#!/bin/sh\necho new crashing >&2\nexit 1\n"
	previous = "#!/bin/sh\necho old\n"
)

func newGuardDir(t *testing.T, trial string) guardDir {
	t.Helper()
	testenv.NeedTools(t, "Debian: apt-get install -y dash coreutils", "sh", "stat", "id", "date")
	dir := t.TempDir()
	g := guardDir{bin: filepath.Join(dir, "patchbay-agent")}
	write := func(path, content string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(g.bin, crashing, 0o755)
	write(g.bin+".prev", previous, 0o755)
	write(g.bin+".pending", `{"version":"v1.1.0"}`, 0o600)
	if trial != "" {
		write(g.bin+".trial", strings.ReplaceAll(trial, "BIN", g.bin), 0o600)
	}
	return g
}

// guard runs the guard as the unit does, with 3 starts allowed.
func (g guardDir) guard(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sh", guardScript, g.bin, "3").CombinedOutput()
	if err != nil {
		t.Fatalf("guard: %v\n%s", err, out)
	}
	return string(out)
}

// start runs the installed binary as systemd's ExecStart= would.
func (g guardDir) start(t *testing.T) (string, bool) {
	t.Helper()
	out, err := exec.Command(g.bin).CombinedOutput()
	return strings.TrimSpace(string(out)), err == nil
}

func (g guardDir) read(t *testing.T, suffix string) string {
	t.Helper()
	b, err := os.ReadFile(g.bin + suffix)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (g guardDir) gone(t *testing.T, suffixes ...string) {
	t.Helper()
	for _, s := range suffixes {
		if _, err := os.Lstat(g.bin + s); err == nil {
			t.Errorf("%s is still there", filepath.Base(g.bin+s))
		}
	}
}

func future() string { return strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) }

// A binary that exits 1 at once, restarted by systemd: the guard lets it
// start 3 times, then puts the previous binary back before the 4th.
func TestGuardPutsThePreviousBinaryBackAfterThreeStartsWithoutCheckIn(t *testing.T) {
	g := newGuardDir(t, "previous=BIN.prev\ndeadline="+future()+"\nstarts=0\n")
	for i := 1; i <= 3; i++ {
		out := g.guard(t)
		if want := "start " + strconv.Itoa(i) + " of 3"; !strings.Contains(out, want) {
			t.Errorf("guard run %d said %q, want %q", i, out, want)
		}
		if got := g.read(t, ""); got != crashing {
			t.Fatalf("guard run %d replaced the binary early", i)
		}
		if out, ok := g.start(t); ok || out != "new crashing" {
			t.Fatalf("start %d: %q ok=%v, want the new binary failing", i, out, ok)
		}
		if got, want := g.read(t, ".trial"), "previous="+g.bin+".prev\ndeadline="; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "\nstarts="+strconv.Itoa(i)+"\n") {
			t.Errorf("trial file after start %d:\n%s", i, got)
		}
	}
	if out := g.guard(t); !strings.Contains(out, "put the previous binary back at "+g.bin+": it was started 3 times without checking in") {
		t.Errorf("4th guard run said %q", out)
	}
	if out, ok := g.start(t); !ok || out != "old" {
		t.Fatalf("after the revert the binary says %q ok=%v, want the previous one", out, ok)
	}
	g.gone(t, ".prev", ".pending", ".trial")
	// The next start has no trial left: nothing happens.
	if out := g.guard(t); out != "" {
		t.Errorf("guard without a trial said %q", out)
	}
	if out, ok := g.start(t); !ok || out != "old" {
		t.Errorf("binary %q ok=%v, want the previous one", out, ok)
	}
}

func TestGuardPutsThePreviousBinaryBackOnceTheDeadlinePassed(t *testing.T) {
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	g := newGuardDir(t, "# written by self-update\nprevious=BIN.prev\ndeadline="+past+"\nstarts=0\n")
	if out := g.guard(t); !strings.Contains(out, "it did not check in by its deadline") {
		t.Errorf("guard said %q", out)
	}
	if got := g.read(t, ""); got != previous {
		t.Errorf("binary after the deadline:\n%s\nwant the previous one", got)
	}
	g.gone(t, ".prev", ".pending", ".trial")
}

// A trial whose pending marker is gone was confirmed by a check-in: the
// binary stays, and so does the kept previous one; the trial file goes.
func TestGuardLeavesAConfirmedTrialAlone(t *testing.T) {
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	g := newGuardDir(t, "previous=BIN.prev\ndeadline="+past+"\nstarts=7\n")
	if err := os.Remove(g.bin + ".pending"); err != nil {
		t.Fatal(err)
	}
	if out := g.guard(t); out != "" {
		t.Errorf("guard said %q", out)
	}
	if got := g.read(t, ""); got != crashing {
		t.Error("the guard replaced a confirmed binary")
	}
	if got := g.read(t, ".prev"); got != previous {
		t.Error("the guard lost the previous binary kept for a manual rollback")
	}
	g.gone(t, ".trial")
}

// Without a trial file the guard does nothing at all, whatever else lies
// beside the binary.
func TestGuardWithoutTrialDoesNothing(t *testing.T) {
	g := newGuardDir(t, "")
	if out := g.guard(t); out != "" {
		t.Errorf("guard said %q", out)
	}
	if g.read(t, "") != crashing || g.read(t, ".prev") != previous || g.read(t, ".pending") == "" {
		t.Error("the guard changed files without a trial")
	}
}

// Contents the self-update never writes are refused: nothing is moved, and
// above all no file from outside the install directory becomes the agent.
func TestGuardRefusesHostileTrialFiles(t *testing.T) {
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	evil := filepath.Join(t.TempDir(), "evil")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho evil\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, trial, want string
		mode              os.FileMode
	}{
		{"a previous binary outside the install directory", "previous=" + evil + "\ndeadline=" + past + "\nstarts=0\n", "previous binary " + evil + " is not", 0o600},
		{"a previous binary reached through ..", "previous=BIN.prev/../../" + filepath.Base(evil) + "\ndeadline=" + past + "\nstarts=0\n", "is not", 0o600},
		{"no previous binary", "deadline=" + past + "\nstarts=0\n", "previous binary  is not", 0o600},
		{"a deadline that is a command", "previous=BIN.prev\ndeadline=$(touch /tmp/pwned)\nstarts=0\n", "is not a time", 0o600},
		{"a start count that is arithmetic", "previous=BIN.prev\ndeadline=" + past + "\nstarts=x[$(id)]\n", "is not a count", 0o600},
		{"an unknown key", "previous=BIN.prev\ndeadline=" + past + "\nstarts=0\nexec=" + evil + "\n", "unexpected line", 0o600},
		{"no deadline", "previous=BIN.prev\nstarts=0\n", "no deadline or start count", 0o600},
		{"a trial file others may write", "previous=BIN.prev\ndeadline=" + past + "\nstarts=0\n", "writable by others", 0o666},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuardDir(t, tc.trial)
			if err := os.Chmod(g.bin+".trial", tc.mode); err != nil {
				t.Fatal(err)
			}
			out := g.guard(t)
			if !strings.Contains(out, "refusing "+g.bin+".trial") || !strings.Contains(out, tc.want) {
				t.Errorf("guard said %q, want a refusal saying %q", out, tc.want)
			}
			if g.read(t, "") != crashing || g.read(t, ".prev") != previous || g.read(t, ".pending") == "" {
				t.Error("a refused trial file changed the binaries")
			}
			if out, _ := g.start(t); out == "evil" {
				t.Fatal("the guard installed a binary from outside the install directory")
			}
		})
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Error("the guard ran a command from the trial file")
	}

	t.Run("a trial file another user owns", func(t *testing.T) {
		testenv.NeedRoot(t, "giving the trial file to another user needs chown")
		g := newGuardDir(t, "previous=BIN.prev\ndeadline="+past+"\nstarts=0\n")
		if err := os.Chown(g.bin+".trial", 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if out := g.guard(t); !strings.Contains(out, "owned by uid 4242, not by 0") {
			t.Errorf("guard said %q", out)
		}
		if g.read(t, "") != crashing {
			t.Error("a trial file of another user changed the binary")
		}
	})

	t.Run("a trial file that is a symbolic link", func(t *testing.T) {
		g := newGuardDir(t, "")
		other := filepath.Join(t.TempDir(), "trial")
		if err := os.WriteFile(other, []byte("previous="+g.bin+".prev\ndeadline="+past+"\nstarts=0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(other, g.bin+".trial"); err != nil {
			t.Fatal(err)
		}
		if out := g.guard(t); !strings.Contains(out, "not a regular file") {
			t.Errorf("guard said %q", out)
		}
		if g.read(t, "") != crashing {
			t.Error("a symlinked trial file changed the binary")
		}
	})
}
