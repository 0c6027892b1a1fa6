package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// buildLeanAgent builds cmd/patchbay-agent next to the patchbay binary
// under test, where `patchbay package` looks for it by default.
func buildLeanAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(binary), "patchbay-agent")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "../patchbay-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build patchbay-agent: %v\n%s", err, out)
	}
	return bin
}

// TestPackagedAgentEnrollsAndReports builds a .deb with `patchbay package`,
// takes the agent binary and its config file out of it with dpkg-deb, and
// starts that binary as a process with that config file: it enrolls with
// the token the package carries, reports the image's packages, and drops
// the token from the config file.
func TestPackagedAgentEnrollsAndReports(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install -y dpkg", "dpkg-deb")
	sp := startServerProc(t, "server", "--feed-source", "none")
	agentBin := buildLeanAgent(t)
	token := sp.enrollToken(t)

	out := t.TempDir()
	stdout, stderr, err := run(t, "package", "--type", "deb", "--server", sp.url, "--enroll-token", token,
		"--label", "site=lab", "--checkin-interval", "1h", "--out", out)
	if err != nil {
		t.Fatalf("patchbay package: %v\n%s", err, stderr)
	}
	deb := strings.TrimSpace(stdout)
	if filepath.Dir(deb) != out || !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("patchbay package printed %q, want a .deb in %s", deb, out)
	}
	tree := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-x", deb, tree).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
	}
	packaged, err := os.ReadFile(filepath.Join(tree, "usr/bin/patchbay-agent"))
	if err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(packaged, built) {
		t.Fatal("the package does not carry the patchbay-agent next to patchbay")
	}

	config := filepath.Join(tree, "etc/patchbay/agent.yaml")
	root := ubuntuRoot(t, "packaged-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(tree, "usr/bin/patchbay-agent"), "--config", config, "--root", root)
	// The state directory and hooks file come from the environment, as a
	// unit's Environment= would give them; the rest from the config file.
	cmd.Env = append(os.Environ(), "PATCHBAY_STATE_DIR="+t.TempDir(), "PATCHBAY_HOOKS="+filepath.Join(tree, "etc/patchbay/agent-hooks.json"),
		"PATCHBAY_SERVER=", "PATCHBAY_ENROLL_TOKEN=", "PATCHBAY_CA=")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	var agentLog syncBuffer
	cmd.Stderr = &agentLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		hosts := sp.hosts(t)
		if len(hosts) == 1 && hosts[0].Hostname == "packaged-1" && hosts[0].PackageCount > 0 {
			if hosts[0].OS.ID != "ubuntu" {
				t.Errorf("host reports OS %q, want ubuntu", hosts[0].OS.ID)
			}
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the packaged agent exited (%v) before reporting:\n%s", err, agentLog.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report from the packaged agent; hosts %+v; agent log:\n%s", hosts, agentLog.String())
		}
	}

	// The token went from the file once the host was enrolled; the rest
	// stayed. Enrollment happens before the first report, so the file is
	// already rewritten.
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("\nenroll_token:")) || bytes.Contains(b, []byte(token)) {
		t.Errorf("the config file still holds the token after enrollment:\n%s", b)
	}
	for _, keep := range []string{"server: \"" + sp.url + "\"\n", "labels:\n  site: \"lab\"\n", "checkin_interval: \"1h0m0s\"\n"} {
		if !bytes.Contains(b, []byte(keep)) {
			t.Errorf("the config file lost %q:\n%s", keep, b)
		}
	}
	if fi, err := os.Stat(config); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode after the rewrite: %v, %v; want 0600", fi, err)
	}

	cancel()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the packaged agent did not stop on SIGINT")
	}
	if strings.Contains(agentLog.String(), "level=ERROR") {
		t.Errorf("agent logged errors:\n%s", agentLog.String())
	}
}

// TestPackageRefusesWithoutAServerURL: the package bakes the URL in, so
// the CLI's default (a local server) is never used silently.
func TestPackageRefusesWithoutAServerURL(t *testing.T) {
	_, stderr, err := run(t, "package", "--type", "deb", "--enroll-token", "PBE1.x."+strings.Repeat("ab", 32))
	if err == nil || !strings.Contains(stderr, "--server: give the URL agents reach the server at") {
		t.Fatalf("err %v, stderr %q; want a refusal naming --server", err, stderr)
	}
}
