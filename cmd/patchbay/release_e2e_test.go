package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/release"
)

// TestReleaseKeyCreateAndSignMakeAReleaseAgentsVerify runs the two offline
// commands and checks the release file with the agent's verifier: it
// accepts the signed binary for an older running version and refuses a
// binary changed after signing.
func TestReleaseKeyCreateAndSignMakeAReleaseAgentsVerify(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, err := run(t, "release-key", "create", "--out", dir); err != nil {
		t.Fatalf("release-key create: %v\n%s", err, stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "release.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("release.key: %v %v, want mode 0600", fi, err)
	}
	if _, stderr, err := run(t, "release-key", "create", "--out", dir); err == nil || !strings.Contains(stderr, "release.key exists") {
		t.Fatalf("a second create over the same key: err %v, stderr %q; want a refusal", err, stderr)
	}
	agentBin := buildLeanAgent(t)
	bin := filepath.Join(dir, "patchbay-agent")
	data, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, "release", "sign", "--key", filepath.Join(dir, "release.key"), "--binary", bin, "--version", "v1.4.0")
	if err != nil {
		t.Fatalf("release sign: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(stdout) != bin+".release" {
		t.Errorf("release sign printed %q, want %s.release", stdout, bin)
	}
	file, err := os.ReadFile(bin + ".release")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(string(pub))
	r, err := release.Verify(file, vkey, data, "v1.3.9", "linux", runtime.GOARCH)
	if err != nil {
		t.Fatalf("the agent's verifier refuses the signed release: %v", err)
	}
	if r.Version != "v1.4.0" || r.Size != int64(len(data)) {
		t.Errorf("release %+v", r)
	}
	tampered := append([]byte(nil), data...)
	tampered[len(tampered)/2] ^= 0xff
	if _, err := release.Verify(file, vkey, tampered, "v1.3.9", "linux", runtime.GOARCH); !errors.Is(err, release.ErrHash) {
		t.Errorf("a tampered binary: err %v, want ErrHash", err)
	}
}
