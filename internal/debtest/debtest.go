// Package debtest builds Debian packages, flat apt repositories and
// image roots for tests that drive the real dpkg and apt-get; its Run,
// WriteFile and AddStaticShell serve package rpmtest too. It is test
// support: nothing in the product imports it.
package debtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func BuildDeb(t testing.TB, dir, repo, name, version string) {
	t.Helper()
	src := filepath.Join(dir, "src-"+version)
	WriteFile(t, filepath.Join(src, "DEBIAN/control"), fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Patchbay Tests <tests@example.invalid>\n"+
			"Section: misc\nPriority: optional\nDescription: Patchbay test package\n", name, version))
	WriteFile(t, filepath.Join(src, "usr/share", name, "version"), version+"\n")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(repo, fmt.Sprintf("%s_%s_all.deb", name, version))
	Run(t, "", "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", src, deb)
}

// WritePackagesIndex writes repo/Packages with dpkg-scanpackages when
// dpkg-dev is installed, otherwise from dpkg-deb -f, the size and the
// SHA256 of each .deb.
func WritePackagesIndex(t testing.TB, repo string) {
	t.Helper()
	var index []byte
	if _, err := exec.LookPath("dpkg-scanpackages"); err == nil {
		index = Run(t, repo, "dpkg-scanpackages", "--multiversion", ".")
	} else {
		index = PackagesIndex(t, repo)
	}
	WriteFile(t, filepath.Join(repo, "Packages"), string(index))
}

// PackagesIndex builds a Packages index without dpkg-dev.
func PackagesIndex(t testing.TB, repo string) []byte {
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
		b.Write(bytes.TrimRight(Run(t, "", "dpkg-deb", "-f", deb), "\n"))
		fmt.Fprintf(&b, "\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n", filepath.Base(deb), len(data), hex.EncodeToString(sum[:]))
	}
	return b.Bytes()
}

// MakeImageRoot creates the minimal tree apt and dpkg need under root,
// with name at version recorded as installed, and refreshes its package
// lists from repo (whose index must be written) as a host's own schedule
// would, so the agent reports what repo offers as available updates.
func MakeImageRoot(t testing.TB, root, repo, name, version string) {
	t.Helper()
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	WriteFile(t, filepath.Join(root, "etc/apt/sources.list"), "deb [trusted=yes] file:"+repo+" ./\n")
	WriteFile(t, filepath.Join(root, "var/lib/dpkg/status"), fmt.Sprintf(
		"Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\n"+
			"Maintainer: Patchbay Tests <tests@example.invalid>\nArchitecture: all\nVersion: %s\n"+
			"Description: Patchbay test package\n", name, version))
	WriteFile(t, filepath.Join(root, "var/lib/dpkg/available"), "")
	file := "/usr/share/" + name + "/version"
	WriteFile(t, filepath.Join(root, file), version+"\n")
	WriteFile(t, filepath.Join(root, "var/lib/dpkg/info", name+".list"),
		"/.\n/usr\n/usr/share\n/usr/share/"+name+"\n"+file+"\n")
	RefreshLists(t, root)
}

// InstalledVersion reads name's version from the image's dpkg status.
func InstalledVersion(t testing.TB, root, name string) string {
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

// Run runs name with args in dir and returns its standard output; a
// failure fails t with the command's standard error.
func Run(t testing.TB, dir, name string, args ...string) []byte {
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

// WriteFile writes content to path, creating its directories.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BuildDebWithPostinst is BuildDeb with a maintainer postinst script.
func BuildDebWithPostinst(t testing.TB, dir, repo, name, version, postinst string) {
	t.Helper()
	src := filepath.Join(dir, "src-"+version)
	WriteFile(t, filepath.Join(src, "DEBIAN/postinst"), postinst)
	if err := os.Chmod(filepath.Join(src, "DEBIAN/postinst"), 0o755); err != nil {
		t.Fatal(err)
	}
	BuildDeb(t, dir, repo, name, version)
}

// AddStaticShell puts a statically linked busybox at ROOT/bin/sh, so that
// dpkg and rpm can run package scripts chrooted into the image.
func AddStaticShell(t testing.TB, root string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox (Debian: busybox-static) is needed to run package scripts in an image root: %v", err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/sh"), data, 0o755); err != nil {
		t.Fatal(err)
	}
}
