package pkgmgr

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/testenv"
)

// requireTools skips a test when a system tool is missing, except in CI
// where a missing tool is a broken build machine.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	testenv.NeedTools(t, "Debian: apt-get install -y apt dpkg", tools...)
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "installing with dpkg --root needs root; run the tests as root")
}

// TestAptInImageRoot drives the real apt-get and dpkg against a throwaway
// image root with its own sources.list pointing at a flat local repository
// of two versions of pbtest-hello. The running host is never touched.
func TestAptInImageRoot(t *testing.T) {
	requireTools(t, "apt-get", "dpkg-deb", "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	root := filepath.Join(dir, "root")
	for _, v := range []string{"1.0-1", "1.1-1"} {
		debtest.BuildDeb(t, dir, repo, "pbtest-hello", v)
	}
	debtest.WritePackagesIndex(t, repo)
	debtest.MakeImageRoot(t, root, repo, "pbtest-hello", "1.0-1")

	// Refresh the image's lists once, as the host's own schedule would.
	update := append(aptRootOptions(root), "-o", "APT::Sandbox::User=root", "update")
	if out, err := (ExecRunner{}).Run(ctx, "apt-get", update...); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}

	rec := newRecordingRunner()
	m := Manager{Format: inventory.FormatDpkg, Root: root, Runner: rec}
	wantUpdate := func(t *testing.T, want string) { t.Helper(); wantHelloUpdate(t, ctx, m, "all", want, anyRepo) }

	t.Run("the image's update is listed", func(t *testing.T) {
		wantUpdate(t, "1.1-1")
		checkCapture(t, "apt/captured-simulate-dist-upgrade.txt", rec.output(t, "dist-upgrade"), root)
	})

	t.Run("simulate shows the upgrade and changes nothing", func(t *testing.T) {
		out, err := m.Simulate(ctx, []Target{{Name: "pbtest-hello", Arch: "all", Version: "1.1-1"}})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("Inst pbtest-hello [1.0-1] (1.1-1 ")) {
			t.Errorf("simulate output lacks the upgrade:\n%s", out)
		}
		if v := debtest.InstalledVersion(t, root, "pbtest-hello"); v != "1.0-1" {
			t.Errorf("after simulate, installed version = %q, want 1.0-1", v)
		}
	})

	t.Run("install upgrades to the exact version and rollback downgrades", func(t *testing.T) {
		requireRoot(t)
		for _, step := range []struct{ version, left string }{{"1.1-1", ""}, {"1.0-1", "1.1-1"}} {
			out, err := m.Install(ctx, []Target{{Name: "pbtest-hello", Version: step.version}})
			if err != nil {
				t.Fatalf("install %s: %v\n%s", step.version, err, out)
			}
			if v := debtest.InstalledVersion(t, root, "pbtest-hello"); v != step.version {
				t.Fatalf("after install, dpkg status says %q, want %s\n%s", v, step.version, out)
			}
			content, err := os.ReadFile(filepath.Join(root, "usr/share/pbtest-hello/version"))
			if err != nil || string(content) != step.version+"\n" {
				t.Fatalf("installed file: %q, %v; want %s", content, err, step.version)
			}
			wantUpdate(t, step.left)
		}
	})

	t.Run("an unknown version fails without changing the image", func(t *testing.T) {
		requireRoot(t)
		before := debtest.InstalledVersion(t, root, "pbtest-hello")
		if _, err := m.Install(ctx, []Target{{Name: "pbtest-hello", Version: "9.9-1"}}); err == nil {
			t.Error("installing a version no repository has succeeded")
		}
		if v := debtest.InstalledVersion(t, root, "pbtest-hello"); v != before {
			t.Errorf("installed version changed from %s to %s", before, v)
		}
	})

	t.Run("the running host is not touched", func(t *testing.T) {
		if out, err := exec.Command("dpkg-query", "-W", "pbtest-hello").CombinedOutput(); err == nil {
			t.Errorf("pbtest-hello is installed on the host: %s", out)
		}
	})
}

// TestPackagesIndexAgreesWithScanpackages keeps the fallback honest on
// machines that have dpkg-dev.
func TestPackagesIndexAgreesWithScanpackages(t *testing.T) {
	requireTools(t, "dpkg-deb", "dpkg-scanpackages")
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	debtest.BuildDeb(t, dir, repo, "pbtest-hello", "1.0-1")
	keys := func(index []byte) map[string]string {
		m := map[string]string{}
		for line := range strings.SplitSeq(string(index), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && k != "MD5sum" && k != "SHA1" {
				m[k] = v
			}
		}
		return m
	}
	got := keys(debtest.PackagesIndex(t, repo))
	want := keys(debtest.Run(t, repo, "dpkg-scanpackages", "--multiversion", "."))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, dpkg-scanpackages wrote %q", k, got[k], v)
		}
	}
}

// anyRepo, as the repository wantHelloUpdate wants, accepts any name.
const anyRepo = "*"

// wantHelloUpdate fails t unless m offers no update (version "") or exactly
// pbtest-hello at version for arch from repo.
func wantHelloUpdate(t *testing.T, ctx context.Context, m Manager, arch, version, repo string) {
	t.Helper()
	us, err := m.AvailableUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if version == "" {
		if len(us) != 0 {
			t.Fatalf("updates = %+v, want none", us)
		}
		return
	}
	want := Update{Name: "pbtest-hello", Arch: arch, Version: version, Repo: repo}
	if len(us) == 1 && repo == anyRepo && us[0].Repo != "" {
		want.Repo = us[0].Repo
	}
	if len(us) != 1 || us[0] != want {
		t.Fatalf("updates = %+v, want %+v", us, want)
	}
}
