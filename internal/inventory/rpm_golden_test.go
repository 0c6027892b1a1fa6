package inventory

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/internal/golden"
	"github.com/patchbay/patchbay/internal/rpmtest"
)

var update = flag.Bool("update", false, "recapture testdata/rpm-qa-captured.txt from the real rpm")

// capturedRPMSpecs are packages named, versioned and split into
// subpackages as real RHEL ones are (their NEVRAs are from UBI 7 and
// CentOS 6 images), built with the real rpmbuild so that the real rpm
// prints them: epochs set and unset, a subpackage whose version differs
// from its source package's (device-mapper from lvm2), noarch, and three
// kernels installed side by side.
var capturedRPMSpecs = map[string]string{
	"bash-4.2.46-33.el7": "Name: bash\nVersion: 4.2.46\nRelease: 33.el7\nSummary: s\nLicense: GPLv3+\nBuildArch: x86_64\n" +
		"%description\nd\n%files\n",
	"basesystem-10.0-7.el7": "Name: basesystem\nVersion: 10.0\nRelease: 7.el7\nSummary: s\nLicense: Public Domain\nBuildArch: noarch\n" +
		"%description\nd\n%files\n",
	"openssl-1.0.2k-19.el7": "Name: openssl\nEpoch: 1\nVersion: 1.0.2k\nRelease: 19.el7\nSummary: s\nLicense: OpenSSL\nBuildArch: x86_64\n" +
		"%description\nd\n%package libs\nSummary: s\n%description libs\nd\n%files libs\n",
	"lvm2-2.02.185-2.el7": "Name: lvm2\nEpoch: 7\nVersion: 2.02.185\nRelease: 2.el7\nSummary: s\nLicense: GPLv2\nBuildArch: x86_64\n" +
		"%description\nd\n%package -n device-mapper\nVersion: 1.02.158\nSummary: s\n%description -n device-mapper\nd\n%files -n device-mapper\n",
	"bind-9.8.2-0.68.rc1.el6_10.1": "Name: bind\nEpoch: 32\nVersion: 9.8.2\nRelease: 0.68.rc1.el6_10.1\nSummary: s\nLicense: ISC\nBuildArch: x86_64\n" +
		"%description\nd\n%package libs\nSummary: s\n%description libs\nd\n%files libs\n",
	"kernel-5.14.0-362.8.1.el9_3":  kernelSpec("362.8.1.el9_3"),
	"kernel-5.14.0-427.13.1.el9_4": kernelSpec("427.13.1.el9_4"),
	"kernel-5.14.0-427.42.1.el9_4": kernelSpec("427.42.1.el9_4"),
}

func kernelSpec(release string) string {
	return "Name: kernel\nVersion: 5.14.0\nRelease: " + release + "\nSummary: s\nLicense: GPLv2\nBuildArch: x86_64\n" +
		"%description\nd\n%package core\nSummary: s\n%description core\nd\n%files core\n"
}

// TestRPMQueryGoldenIsWhatTheRealRPMPrints builds capturedRPMSpecs, installs
// them into an image root, and compares what the real rpm prints for
// rpmQueryFormat with testdata/rpm-qa-captured.txt, which the parser tests
// read. Recapture with -update and review the diff.
func TestRPMQueryGoldenIsWhatTheRealRPMPrints(t *testing.T) {
	rpmtest.Require(t)
	work, repo, root := t.TempDir(), t.TempDir(), t.TempDir()
	for nvr, spec := range capturedRPMSpecs {
		rpmtest.BuildSpec(t, work, repo, nvr, spec)
	}
	rpms, err := filepath.Glob(filepath.Join(repo, "*.rpm"))
	if err != nil || len(rpms) != 8 {
		t.Fatalf("rpmbuild made %q (%v), want 8 packages", rpms, err)
	}
	for i := range rpms {
		rpms[i] = filepath.Base(rpms[i])
	}
	rpmtest.MakeImageRoot(t, root, repo, rpms...)
	cmd := exec.Command("rpm", "--root", root, "--dbpath", rpmtest.DBPath, "-qa", "--qf", rpmQueryFormat)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	// rpm lists in database order; the golden is sorted so it reads well.
	lines := bytes.SplitAfter(out, []byte("\n"))
	slices.SortFunc(lines, bytes.Compare)
	got := bytes.Join(lines, nil)
	golden.Check(t, filepath.Join("testdata", "rpm-qa-captured.txt"), got, *update)
}
