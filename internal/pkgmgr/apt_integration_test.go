package pkgmgr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// requireTools skips a test when a system tool is missing, except in CI
// where a missing tool is a broken build machine.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed (%v); install it (Debian: apt-get install apt dpkg) to run this test", tool, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "installing with dpkg --root needs root; run the tests as root"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
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
		buildDeb(t, dir, repo, "pbtest-hello", v)
	}
	writePackagesIndex(t, repo)
	makeImageRoot(t, root, repo, "pbtest-hello", "1.0-1")

	// Refresh the image's lists once, as the host's own schedule would.
	update := append(aptRootOptions(root), "-o", "APT::Sandbox::User=root", "update")
	if out, err := (ExecRunner{}).Run(ctx, "apt-get", update...); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}

	m := Manager{Format: inventory.FormatDpkg, Root: root, Runner: ExecRunner{}}
	wantUpdate := func(t *testing.T, want string) {
		t.Helper()
		us, err := m.AvailableUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want == "" {
			if len(us) != 0 {
				t.Fatalf("updates = %+v, want none", us)
			}
			return
		}
		if len(us) != 1 || us[0].Name != "pbtest-hello" || us[0].Arch != "all" || us[0].Version != want || us[0].Repo == "" {
			t.Fatalf("updates = %+v, want pbtest-hello all %s from the local repository", us, want)
		}
	}

	t.Run("the image's update is listed", func(t *testing.T) { wantUpdate(t, "1.1-1") })

	t.Run("simulate shows the upgrade and changes nothing", func(t *testing.T) {
		out, err := m.Simulate(ctx, []Target{{Name: "pbtest-hello", Arch: "all", Version: "1.1-1"}})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("Inst pbtest-hello [1.0-1] (1.1-1 ")) {
			t.Errorf("simulate output lacks the upgrade:\n%s", out)
		}
		if v := installedVersion(t, root, "pbtest-hello"); v != "1.0-1" {
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
			if v := installedVersion(t, root, "pbtest-hello"); v != step.version {
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
		before := installedVersion(t, root, "pbtest-hello")
		if _, err := m.Install(ctx, []Target{{Name: "pbtest-hello", Version: "9.9-1"}}); err == nil {
			t.Error("installing a version no repository has succeeded")
		}
		if v := installedVersion(t, root, "pbtest-hello"); v != before {
			t.Errorf("installed version changed from %s to %s", before, v)
		}
	})

	t.Run("the running host is not touched", func(t *testing.T) {
		if out, err := exec.Command("dpkg-query", "-W", "pbtest-hello").CombinedOutput(); err == nil {
			t.Errorf("pbtest-hello is installed on the host: %s", out)
		}
	})
}

func buildDeb(t *testing.T, dir, repo, name, version string) {
	t.Helper()
	src := filepath.Join(dir, "src-"+version)
	writeFile(t, filepath.Join(src, "DEBIAN/control"), fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Patchbay Tests <tests@example.invalid>\n"+
			"Section: misc\nPriority: optional\nDescription: Patchbay test package\n", name, version))
	writeFile(t, filepath.Join(src, "usr/share", name, "version"), version+"\n")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(repo, fmt.Sprintf("%s_%s_all.deb", name, version))
	run(t, "", "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", src, deb)
}

// writePackagesIndex writes repo/Packages with dpkg-scanpackages when
// dpkg-dev is installed, otherwise from dpkg-deb -f, the size and the
// SHA256 of each .deb.
func writePackagesIndex(t *testing.T, repo string) {
	t.Helper()
	var index []byte
	if _, err := exec.LookPath("dpkg-scanpackages"); err == nil {
		index = run(t, repo, "dpkg-scanpackages", "--multiversion", ".")
	} else {
		index = packagesIndex(t, repo)
	}
	writeFile(t, filepath.Join(repo, "Packages"), string(index))
}

// packagesIndex builds a Packages index without dpkg-dev.
func packagesIndex(t *testing.T, repo string) []byte {
	t.Helper()
	debs, err := filepath.Glob(filepath.Join(repo, "*.deb"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, deb := range debs {
		data, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		b.Write(bytes.TrimRight(run(t, "", "dpkg-deb", "-f", deb), "\n"))
		fmt.Fprintf(&b, "\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n", filepath.Base(deb), len(data), hex.EncodeToString(sum[:]))
	}
	return b.Bytes()
}

// TestPackagesIndexAgreesWithScanpackages keeps the fallback honest on
// machines that have dpkg-dev.
func TestPackagesIndexAgreesWithScanpackages(t *testing.T) {
	requireTools(t, "dpkg-deb", "dpkg-scanpackages")
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	buildDeb(t, dir, repo, "pbtest-hello", "1.0-1")
	keys := func(index []byte) map[string]string {
		m := map[string]string{}
		for line := range strings.SplitSeq(string(index), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && k != "MD5sum" && k != "SHA1" {
				m[k] = v
			}
		}
		return m
	}
	got := keys(packagesIndex(t, repo))
	want := keys(run(t, repo, "dpkg-scanpackages", "--multiversion", "."))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, dpkg-scanpackages wrote %q", k, got[k], v)
		}
	}
}

// makeImageRoot creates the minimal tree apt and dpkg need under root,
// with name at version recorded as installed.
func makeImageRoot(t *testing.T, root, repo, name, version string) {
	t.Helper()
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"), "deb [trusted=yes] file:"+repo+" ./\n")
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), fmt.Sprintf(
		"Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\n"+
			"Maintainer: Patchbay Tests <tests@example.invalid>\nArchitecture: all\nVersion: %s\n"+
			"Description: Patchbay test package\n", name, version))
	writeFile(t, filepath.Join(root, "var/lib/dpkg/available"), "")
	file := "/usr/share/" + name + "/version"
	writeFile(t, filepath.Join(root, file), version+"\n")
	writeFile(t, filepath.Join(root, "var/lib/dpkg/info", name+".list"),
		"/.\n/usr\n/usr/share\n/usr/share/"+name+"\n"+file+"\n")
}

// installedVersion reads name's version from the image's dpkg status.
func installedVersion(t *testing.T, root, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	for stanza := range strings.SplitSeq(string(data), "\n\n") {
		fields := map[string]string{}
		for line := range strings.SplitSeq(stanza, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				fields[k] = v
			}
		}
		if fields["Package"] == name && fields["Status"] == "install ok installed" {
			return fields["Version"]
		}
	}
	return ""
}

func run(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
