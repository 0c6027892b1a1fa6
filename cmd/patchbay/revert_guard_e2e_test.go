package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// TestSelfUpdateThatCrashesBeforeMainIsPutBackByTheUnitGuard installs, with
// the real `patchbay-agent self-update`, a signed release that panics
// before its main, then does what systemd does with the agent unit: run the
// ExecStartPre= guard, then the binary, again while it fails. The guard
// lets the broken binary start 3 times and then puts v1.0.0 back, which
// starts, checks in with a real server and reports.
func TestSelfUpdateThatCrashesBeforeMainIsPutBackByTheUnitGuard(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install -y dash coreutils", "sh", "stat")
	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	if _, stderr, err := run(t, "release-key", "create", "--out", keys); err != nil {
		t.Fatalf("release-key create: %v\n%s", err, stderr)
	}
	v1 := buildAgentVersion(t, work, "v1.0.0")
	crash := filepath.Join(work, "crashagent")
	build := exec.Command("go", "build", "-o", crash, "./testdata/crashagent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crashagent: %v\n%s", err, out)
	}
	note := filepath.Join(work, "crash.release")
	if _, stderr, err := run(t, "release", "sign", "--key", filepath.Join(keys, "release.key"), "--binary", crash, "--version", "v1.1.0", "--out", note); err != nil {
		t.Fatalf("release sign: %v\n%s", err, stderr)
	}

	installed := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(installed, mustRead(t, v1), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := runBin(t, installed, "self-update", "--release", note, "--binary", crash, "--key", filepath.Join(keys, "release.pub"), "--deadline", "1h"); err != nil {
		t.Fatalf("self-update: %v\n%s", err, out)
	}
	trial := string(mustRead(t, installed+".trial"))
	if !strings.HasPrefix(trial, "previous="+installed+".prev\ndeadline=") || !strings.HasSuffix(trial, "\nstarts=0\n") {
		t.Fatalf("trial file written by self-update:\n%s", trial)
	}

	if err := os.WriteFile(filepath.Join(work, "none.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sp := startServerProc(t, "server", "--feed-source", "none")
	args := []string{"--config", filepath.Join(work, "none.yaml"), "--server", sp.url, "--enroll-token", sp.enrollToken(t),
		"--state-dir", t.TempDir(), "--root", ubuntuRoot(t, "revert-guard-1"), "--once", "--no-jobs"}
	guard := filepath.Join("..", "..", "internal", "packaging", "files", "agent-revert-guard")
	var crashes int
	for start := 1; ; start++ {
		if start > 6 {
			t.Fatalf("the agent still fails after %d starts: the guard never put the previous binary back", start-1)
		}
		if out, err := exec.Command("sh", guard, installed, "3").CombinedOutput(); err != nil {
			t.Fatalf("start %d: the guard failed (systemd would not start the agent): %v\n%s", start, err, out)
		}
		out, err := runBin(t, installed, args...)
		if err == nil {
			if start != 4 || crashes != 3 {
				t.Errorf("the agent ran at start %d after %d crashes; want start 4 after 3", start, crashes)
			}
			break
		}
		if !strings.Contains(out, "crashagent: broken release, crashing before main") {
			t.Fatalf("start %d failed, but not as the broken release:\n%s", start, out)
		}
		crashes++
		time.Sleep(10 * time.Millisecond) // RestartSec=, shortened
	}
	if !bytes.Equal(mustRead(t, installed), mustRead(t, v1)) {
		t.Error("the installed binary is not v1.0.0 after the revert")
	}
	if out, _ := runBin(t, installed, "--version"); !strings.Contains(out, "v1.0.0") {
		t.Errorf("the installed binary says %q, want v1.0.0", out)
	}
	for _, gone := range []string{".prev", ".pending", ".trial"} {
		if _, err := os.Lstat(installed + gone); err == nil {
			t.Errorf("%s is still there after the revert", filepath.Base(installed+gone))
		}
	}
	hosts := sp.hosts(t)
	if len(hosts) != 1 || hosts[0].Hostname != "revert-guard-1" || hosts[0].AgentVersion != "v1.0.0" {
		t.Errorf("hosts on the server: %+v; want revert-guard-1 reported by agent v1.0.0", hosts)
	}
}
