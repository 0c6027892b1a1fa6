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

	"github.com/patchbay/patchbay/internal/release"
)

// buildAgentVersion builds the lean agent stamped with version.
func buildAgentVersion(t *testing.T, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, "patchbay-agent-"+version)
	build := exec.Command("go", "build", "-ldflags=-s -w -X github.com/patchbay/patchbay/internal/agentcmd.Version="+version, "-o", bin, "../patchbay-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build patchbay-agent %s: %v\n%s", version, err, out)
	}
	return bin
}

func runBin(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PATCHBAY_SERVER=", "PATCHBAY_ENROLL_TOKEN=", "PATCHBAY_CA=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSelfUpdateVerifiesSwapsConfirmsAndReverts drives the lean agent's
// self-update with real binaries: refusals (another key, a tampered
// binary, a downgrade) leave the installed binary alone; a good release is
// swapped in and confirmed by its first check-in against a real server;
// one that has not checked in by its deadline is put back when the agent
// next starts.
func TestSelfUpdateVerifiesSwapsConfirmsAndReverts(t *testing.T) {
	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	other := filepath.Join(work, "other")
	for _, dir := range []string{keys, other} {
		if _, stderr, err := run(t, "release-key", "create", "--out", dir); err != nil {
			t.Fatalf("release-key create: %v\n%s", err, stderr)
		}
	}
	v1 := buildAgentVersion(t, work, "v1.0.0")
	v2 := buildAgentVersion(t, work, "v1.1.0")
	sign := func(key, bin, version string) string {
		t.Helper()
		out := filepath.Join(work, filepath.Base(bin)+"-"+filepath.Base(filepath.Dir(key))+"-"+version+".release")
		if _, stderr, err := run(t, "release", "sign", "--key", key, "--binary", bin, "--version", version, "--out", out); err != nil {
			t.Fatalf("release sign: %v\n%s", err, stderr)
		}
		return out
	}
	good := sign(filepath.Join(keys, "release.key"), v2, "v1.1.0")
	byOther := sign(filepath.Join(other, "release.key"), v2, "v1.1.0")
	older := sign(filepath.Join(keys, "release.key"), v1, "v0.9.0")
	tampered := filepath.Join(work, "tampered")
	b := mustRead(t, v2)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(tampered, b, 0o755); err != nil {
		t.Fatal(err)
	}

	// An empty config file: the settings come from the flags, and no
	// /etc/patchbay/agent.yaml on this machine is read.
	if err := os.WriteFile(filepath.Join(work, "none.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(installed, mustRead(t, v1), 0o755); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(keys, "release.pub")
	for _, tc := range []struct{ name, release, binary, want string }{
		{"a release signed by another key", byOther, v2, "not signed by the pinned release key"},
		{"a tampered binary", good, tampered, "does not match the signed size and SHA-256"},
		{"a downgrade", older, v1, "not newer than the running version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runBin(t, installed, "self-update", "--release", tc.release, "--binary", tc.binary, "--key", pub)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("self-update: err %v, output %q; want a refusal saying %q", err, out, tc.want)
			}
			if !bytes.Equal(mustRead(t, installed), mustRead(t, v1)) {
				t.Fatal("a refused self-update changed the installed binary")
			}
		})
	}

	// A good release: swapped in, on trial, confirmed by a check-in.
	if out, err := runBin(t, installed, "self-update", "--release", good, "--binary", v2, "--key", pub, "--deadline", "1h"); err != nil {
		t.Fatalf("self-update: %v\n%s", err, out)
	}
	if !bytes.Equal(mustRead(t, installed), mustRead(t, v2)) || !bytes.Equal(mustRead(t, release.PrevPath(installed)), mustRead(t, v1)) {
		t.Fatal("after self-update the installed binary is not v1.1.0 with v1.0.0 kept as .prev")
	}
	if out, _ := runBin(t, installed, "--version"); !strings.Contains(out, "v1.1.0") {
		t.Errorf("the installed binary says %q, want v1.1.0", out)
	}
	sp := startServerProc(t, "server", "--feed-source", "none")
	state := t.TempDir()
	if out, err := runBin(t, installed, "--config", filepath.Join(work, "none.yaml"), "--server", sp.url, "--enroll-token", sp.enrollToken(t),
		"--state-dir", state, "--root", ubuntuRoot(t, "selfupdate-1"), "--once", "--no-jobs"); err != nil && !strings.Contains(out, "self-update confirmed") {
		t.Fatalf("the new binary's check-in: %v\n%s", err, out)
	} else if !strings.Contains(out, "self-update confirmed") {
		t.Errorf("the new binary did not confirm its trial:\n%s", out)
	}
	if p, err := release.ReadPending(installed); err != nil || p != nil {
		t.Errorf("trial marker after the check-in: %+v, %v; want none", p, err)
	}

	// A binary on trial past its deadline without a check-in: the next
	// start puts the previous binary back and exits with an error, so the
	// service manager starts the old one.
	if err := release.Install(installed, mustRead(t, v1), release.Release{Version: "v1.2.0"}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	out, err := runBin(t, installed, "--config", filepath.Join(work, "none.yaml"), "--server", "https://127.0.0.1:1", "--state-dir", t.TempDir(), "--once")
	if err == nil || !strings.Contains(out, "did not check in by its deadline: the previous binary is back") {
		t.Fatalf("start after a missed deadline: err %v, output:\n%s", err, out)
	}
	if !bytes.Equal(mustRead(t, installed), mustRead(t, v2)) {
		t.Error("the binary that missed its deadline was not replaced by the previous one (v1.1.0)")
	}
}
