// Package rpmtest builds rpm packages with the real rpmbuild, a local dnf
// repository with createrepo_c, and rpm image roots, for tests that drive
// the real rpm and dnf. It is test support: nothing in the product imports
// it.
//
// Image roots keep their rpm database in /var/lib/rpm, as RHEL and its
// rebuilds do. Every rpm command here names it with --dbpath, because the
// rpm that Debian ships keeps its own database in ~/.rpmdb.
package rpmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/testenv"
)

// DBPath is where image roots keep their rpm database.
const DBPath = "/var/lib/rpm"

// Tools are the commands the package drives.
var Tools = []string{"rpmbuild", "createrepo_c", "rpm", "dnf", "busybox"}

// Require skips t when a tool is missing or the test does not run as root
// (rpm --root and dnf --installroot chroot to run scriptlets), except when
// CI=true: there the build machine is broken and t fails. .ci/run installs
// the tools (Debian: rpm, dnf, createrepo-c, busybox-static).
func Require(t testing.TB) {
	t.Helper()
	testenv.NeedTools(t, "Debian: apt-get install -y rpm dnf createrepo-c busybox-static", Tools...)
	testenv.NeedRoot(t, "rpm --root and dnf --installroot need root to run scriptlets in the image root")
}

// BuildRPM builds the noarch package name at version ("VERSION-RELEASE")
// into repo with rpmbuild. It installs /usr/share/NAME/version holding the
// version. post, when not empty, is the package's %post scriptlet (run by
// /bin/sh in the image root).
func BuildRPM(t testing.TB, dir, repo, name, version, post string) {
	t.Helper()
	ver, rel, ok := strings.Cut(version, "-")
	if !ok {
		t.Fatalf("rpm version %q lacks a release", version)
	}
	var spec strings.Builder
	fmt.Fprintf(&spec, "Name: %s\nVersion: %s\nRelease: %s\nSummary: Patchbay test package\nLicense: MIT\nBuildArch: noarch\n\n"+
		"%%description\nPatchbay test package.\n\n"+
		"%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s > %%{buildroot}/usr/share/%s/version\n\n"+
		"%%files\n/usr/share/%s\n", name, ver, rel, name, version, name, name)
	if post != "" {
		fmt.Fprintf(&spec, "\n%%post\n%s\n", post)
	}
	BuildSpec(t, dir, repo, name+"-"+version, spec.String())
}

// BuildBase builds pbtest-base 1-1, standing in for a distribution's base
// packages: it provides /bin/sh, which rpmbuild makes every package with a
// shell scriptlet require (MakeImageRoot puts a static busybox there), and
// system-release(releasever) = 9, from which dnf detects the image's
// release version as it does from redhat-release.
func BuildBase(t testing.TB, dir, repo string) {
	t.Helper()
	BuildSpec(t, dir, repo, "pbtest-base-1-1", "Name: pbtest-base\nVersion: 1\nRelease: 1\n"+
		"Summary: Patchbay test base system\nLicense: MIT\nBuildArch: noarch\n"+
		"Provides: /bin/sh\nProvides: system-release(releasever) = 9\n\n"+
		"%description\nStands in for a distribution's base packages.\n\n%files\n")
}

// BuildSpec builds the packages of spec with rpmbuild into repo, as
// NAME-VERSION-RELEASE.ARCH.rpm; nvr names the spec file and build tree.
func BuildSpec(t testing.TB, dir, repo, nvr, spec string) {
	t.Helper()
	specFile := filepath.Join(dir, nvr+".spec")
	debtest.WriteFile(t, specFile, spec)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	debtest.Run(t, "", "rpmbuild", "--quiet", "-bb",
		"--define", "_topdir "+filepath.Join(dir, "rpmbuild-"+nvr),
		"--define", "_rpmdir "+repo,
		"--define", "_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
		specFile)
}

// CreateRepo writes repo's repodata with createrepo_c.
func CreateRepo(t testing.TB, repo string) {
	t.Helper()
	debtest.Run(t, "", "createrepo_c", "--quiet", repo)
}

// MakeImageRoot creates an rpm image root: its dnf configuration, one
// repository definition (pbtest, pointing only at the local repo), a static
// busybox as /bin/sh for scriptlets, and the given rpm files installed with
// rpm --root into the database at DBPath.
func MakeImageRoot(t testing.TB, root, repo string, rpms ...string) {
	t.Helper()
	debtest.WriteFile(t, filepath.Join(root, "etc/dnf/dnf.conf"),
		"[main]\ngpgcheck=1\ninstallonly_limit=3\nclean_requirements_on_remove=True\nbest=True\nskip_if_unavailable=False\n")
	// The test packages are unsigned: gpgcheck is off for this local
	// repository only; dnf.conf keeps it on for any other.
	debtest.WriteFile(t, filepath.Join(root, "etc/yum.repos.d/pbtest.repo"),
		"[pbtest]\nname=Patchbay test packages\nbaseurl=file://"+repo+"\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n")
	debtest.AddStaticShell(t, root)
	args := []string{"--root", root, "--dbpath", DBPath, "--install", "--quiet"}
	for _, r := range rpms {
		args = append(args, filepath.Join(repo, r))
	}
	debtest.Run(t, "", "rpm", args...)
}

// InstalledVersion returns the VERSION-RELEASE of name in root's rpm
// database, "" when it is not installed, and the versions separated by
// spaces when several are.
func InstalledVersion(t testing.TB, root, name string) string {
	t.Helper()
	cmd := exec.Command("rpm", "--root", root, "--dbpath", DBPath, "--query", "--queryformat", "%{VERSION}-%{RELEASE}\n", name)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil && bytes.Contains(out, []byte("is not installed")) {
		return ""
	}
	if err != nil {
		t.Fatalf("rpm --query %s under %s: %v\n%s", name, root, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}
