package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// writeTree creates files under a new temporary root: path -> content.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testdataFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeRunner answers commands by name and records what it was asked.
type fakeRunner struct {
	results map[string]fakeResult
	calls   []string
}

type fakeResult struct {
	out []byte
	err error
}

func (f *fakeRunner) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, strings.Join(append([]string{name}, args...), " "))
	r, ok := f.results[name]
	if !ok {
		return nil, fmt.Errorf("fake runner: unexpected command %s", name)
	}
	return r.out, r.err
}

// exitError is what a fake command returns to say it exited with code.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

const ubuntuOSRelease = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
`

func TestCollectReadsADebianImageRoot(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/os-release":                        ubuntuOSRelease,
		"etc/hostname":                          "web-01\n",
		"var/lib/dpkg/status":                   testdataFile(t, "dpkg/osv-scalibr-valid.status"),
		"var/lib/dpkg/status.d/tzdata":          "Package: tzdata\nVersion: 2024a-0ubuntu0.22.04\nArchitecture: all\n",
		"var/lib/dpkg/status.d/tzdata.md5sums":  "d41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n",
		"var/run/reboot-required":               "*** System restart required ***\n",
		"var/run/reboot-required.pkgs":          "linux-image-5.15.0-101-generic\nlibc6\nlibc6\n",
		"lib/modules/5.15.0-91-generic/.keep":   "",
		"lib/modules/5.15.0-101-generic/.keep":  "",
		"usr/lib/modules/5.15.0-100-generic/.x": "",
	})
	runner := &fakeRunner{}
	snap, err := Collector{Root: root, Runner: runner, Now: time.Now}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{
		Hostname:       "web-01",
		OS:             OS{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "22.04", Name: "Ubuntu", PrettyName: "Ubuntu 22.04.4 LTS", Codename: "jammy"},
		Kernel:         "5.15.0-101-generic",
		Arch:           "x86_64",
		RebootRequired: true,
		RebootReasons:  []string{"linux-image-5.15.0-101-generic", "libc6"},
		PackageFormat:  FormatDpkg,
	}
	if !reflect.DeepEqual(snap.Facts, want) {
		t.Errorf("facts\n%+v\nwant\n%+v", snap.Facts, want)
	}
	var names []string
	for _, p := range snap.Packages {
		names = append(names, p.Name)
	}
	wantNames := []string{"accountsservice", "acl", "adduser", "admin-session", "attr", "libacl1", "tzdata", "util-linux-extra"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("packages %q, want %q", names, wantNames)
	}
	if len(snap.Problems) != 0 {
		t.Errorf("problems %q, want none", snap.Problems)
	}
	if len(runner.calls) != 0 {
		t.Errorf("ran %q for a dpkg image, want nothing", runner.calls)
	}
}

func TestCollectFindsTheRebootFlagBehindAnAbsoluteVarRunLink(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/os-release":           "ID=debian\n",
		"var/lib/dpkg/status":      "",
		"run/reboot-required":      "",
		"run/reboot-required.pkgs": "",
	})
	if err := os.Symlink("/run", filepath.Join(root, "var/run")); err != nil {
		t.Fatal(err)
	}
	snap, err := Collector{Root: root}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Facts.RebootRequired || !slices.Equal(snap.Facts.RebootReasons, []string{"reboot-required flag set"}) {
		t.Errorf("reboot %v %q, want true and the flag reason", snap.Facts.RebootRequired, snap.Facts.RebootReasons)
	}
}

func TestCollectReadsAnAlpineImageRoot(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/os-release":       "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\n",
		"lib/apk/db/installed": testdataFile(t, "apk/trivy-apk.installed"),
	})
	snap, err := Collector{Root: root}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f := snap.Facts
	if f.PackageFormat != FormatApk || f.Arch != "x86_64" || f.OS.ID != "alpine" || f.RebootRequired || f.Hostname != "" {
		t.Errorf("facts %+v", f)
	}
	if len(snap.Packages) != 15 {
		t.Errorf("%d packages, want 15", len(snap.Packages))
	}
	want := []string{filepath.Join(root, "lib/apk/db/installed") + ":23: package invalidPackageWithoutAVersion has no V (version)"}
	if !slices.Equal(snap.Problems, want) {
		t.Errorf("problems %q, want %q", snap.Problems, want)
	}
}

func TestCollectReportsARootWithoutPackageDatabase(t *testing.T) {
	root := t.TempDir()
	snap, err := Collector{Root: root}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"no os-release found under " + root + " (looked for etc/os-release, usr/lib/os-release)",
		"no package database found under " + root,
	}
	if snap.Facts.PackageFormat != "" || len(snap.Packages) != 0 || !slices.Equal(snap.Problems, want) {
		t.Errorf("got %+v, want no packages and problems %q", snap, want)
	}
	if _, err := (Collector{Root: filepath.Join(root, "missing")}).Collect(t.Context()); err == nil {
		t.Error("a missing root must be an error")
	}
}

func TestCollectReadsAnRPMImageRootThroughRPM(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/os-release":           "ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"7.7\"\n",
		"var/lib/rpm/rpmdb.sqlite": "",
	})
	runner := &fakeRunner{results: map[string]fakeResult{
		"rpm": {out: readRPMFixture(t, "rpm-qa-captured.txt")},
	}}
	snap, err := Collector{Root: root, Runner: runner}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// rpm reads a copy of the image's database, removed afterwards.
	copyDir, rest, _ := strings.Cut(strings.TrimPrefix(runner.calls[0], "rpm --dbpath "), " ")
	if len(runner.calls) != 1 || !strings.HasPrefix(copyDir, filepath.Join(os.TempDir(), "patchbay-rpmdb-")) || rest != "-qa --qf "+rpmQueryFormat {
		t.Errorf("calls %q, want one rpm --dbpath COPY -qa --qf …", runner.calls)
	}
	if _, err := os.Stat(copyDir); !os.IsNotExist(err) {
		t.Errorf("the copy of the database %s is still there: %v", copyDir, err)
	}
	f := snap.Facts
	// An image's running kernel is not its own, so no kernel comparison.
	if f.PackageFormat != FormatRPM || f.Kernel != "5.14.0-427.42.1.el9_4.x86_64" || f.Arch != "x86_64" || f.RebootRequired {
		t.Errorf("facts %+v", f)
	}
	if len(snap.Packages) != 8 || len(snap.Problems) != 0 {
		t.Errorf("%d packages and problems %q, want 8 and none", len(snap.Packages), snap.Problems)
	}
	for i := 1; i < len(snap.Packages); i++ {
		a, b := snap.Packages[i-1], snap.Packages[i]
		if a.Name > b.Name || (a.Name == b.Name && a.Arch > b.Arch) {
			t.Fatalf("packages not sorted: %v before %v", a, b)
		}
	}

	runner.results["rpm"] = fakeResult{err: errors.New("rpm: executable file not found in $PATH")}
	if _, err := (Collector{Root: root, Runner: runner}).Collect(t.Context()); err == nil {
		t.Error("a failing rpm must fail Collect rather than report no packages")
	}
}

func TestRHELRebootIsRequiredWhenTheRunningKernelIsOlderThanTheNewestInstalled(t *testing.T) {
	tests := []struct {
		name            string
		running         string
		needsRestarting *fakeResult // nil: not installed
		wantRequired    bool
		wantReasons     []string
		wantProblems    []string
	}{
		{
			name:         "running the newest kernel",
			running:      "5.14.0-427.42.1.el9_4.x86_64",
			wantRequired: false,
		},
		{
			name:         "running an older kernel",
			running:      "5.14.0-427.13.1.el9_4.x86_64",
			wantRequired: true,
			wantReasons:  []string{"running kernel 5.14.0-427.13.1.el9_4.x86_64 older than installed 5.14.0-427.42.1.el9_4.x86_64"},
		},
		{
			name:         "running a debug variant of an older kernel whose package is gone",
			running:      "5.14.0-284.11.1.el9_2.x86_64+debug",
			wantRequired: true,
			wantReasons:  []string{"running kernel 5.14.0-284.11.1.el9_2.x86_64+debug older than installed 5.14.0-427.42.1.el9_4.x86_64"},
		},
		{
			name:         "running a UEK kernel ignores the newer RHEL kernels",
			running:      "5.15.0-200.131.27.el9uek.x86_64",
			wantRequired: false,
		},
		{
			name:            "needs-restarting says a reboot is needed",
			running:         "5.14.0-427.42.1.el9_4.x86_64",
			needsRestarting: &fakeResult{out: []byte("Core libraries or services have been updated since boot-up:\n  * glibc\n\nReboot is required to fully utilize these updates.\n"), err: exitError(1)},
			wantRequired:    true,
			wantReasons:     []string{"needs-restarting -r: Core libraries or services have been updated since boot-up:; * glibc; Reboot is required to fully utilize these updates."},
		},
		{
			name:            "needs-restarting says no reboot",
			running:         "5.14.0-427.42.1.el9_4.x86_64",
			needsRestarting: &fakeResult{out: []byte("No core libraries or services have been updated since boot-up.\n")},
			wantRequired:    false,
		},
		{
			name:            "needs-restarting failing is a problem, not a reboot",
			running:         "5.14.0-427.42.1.el9_4.x86_64",
			needsRestarting: &fakeResult{err: exitError(2)},
			wantRequired:    false,
			wantProblems:    []string{"needs-restarting -r: exit status 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := &fakeRunner{results: map[string]fakeResult{
				"rpm": {out: readRPMFixture(t, "rpm-qa-captured.txt")},
			}}
			lookPath := func(string) (string, error) { return "", exec.ErrNotFound }
			if tt.needsRestarting != nil {
				runner.results["needs-restarting"] = *tt.needsRestarting
				lookPath = func(string) (string, error) { return "/usr/bin/needs-restarting", nil }
			}
			c := Collector{Root: "/", Runner: runner, lookPath: lookPath}
			pkgs, _, err := queryRPM(t.Context(), runner, "/")
			if err != nil {
				t.Fatal(err)
			}
			// A live RHEL host cannot be faked at "/" on this machine, so
			// the collection is set up as Collect would set it up there.
			// Its files come from an empty tree, so no Debian flag interferes.
			fsys, err := os.OpenRoot(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fsys.Close() })
			col := &collection{c: c, ctx: t.Context(), root: "/", fsys: fsys, live: true}
			col.snap.Packages = pkgs
			col.snap.Facts.PackageFormat = FormatRPM
			col.snap.Facts.Kernel = tt.running
			col.readRebootRequired()
			f := col.snap.Facts
			if f.RebootRequired != tt.wantRequired || !slices.Equal(f.RebootReasons, tt.wantReasons) {
				t.Errorf("reboot %v %q, want %v %q", f.RebootRequired, f.RebootReasons, tt.wantRequired, tt.wantReasons)
			}
			if !slices.Equal(col.snap.Problems, tt.wantProblems) {
				t.Errorf("problems %q, want %q", col.snap.Problems, tt.wantProblems)
			}
		})
	}
}

func TestCollectMatchesDpkgQueryOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		testenv.SkipOrFail(t, "this machine has no dpkg database: %v", err)
	}
	out, err := ExecRunner{}.Output(t.Context(), "dpkg-query", "-W", "-f", `${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\n`)
	if err != nil {
		testenv.SkipOrFail(t, "dpkg-query: %v", err)
	}
	want := map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) == 4 && (f[0] == "ii " || f[0] == "hi ") {
			want[f[1]+":"+f[2]] = f[3]
		}
	}
	snap, err := Collector{Root: "/", Runner: ExecRunner{}, Now: time.Now}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Facts.PackageFormat != FormatDpkg {
		t.Fatalf("format %q, want dpkg", snap.Facts.PackageFormat)
	}
	if len(snap.Packages) != len(want) {
		t.Errorf("%d packages, dpkg-query lists %d installed", len(snap.Packages), len(want))
	}
	for _, p := range snap.Packages {
		if v, ok := want[p.Key()]; !ok || v != p.Version {
			t.Errorf("%s %s: dpkg-query says %q", p.Key(), p.Version, v)
		}
	}
	if len(snap.Problems) != 0 {
		t.Errorf("problems %q", snap.Problems)
	}

	f := snap.Facts
	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if f.Kernel != strings.TrimSpace(string(release)) {
		t.Errorf("kernel %q, /proc says %q", f.Kernel, release)
	}
	machine, err := exec.Command("uname", "-m").Output()
	if err == nil && f.Arch != strings.TrimSpace(string(machine)) {
		t.Errorf("arch %q, uname -m says %q", f.Arch, machine)
	}
	if host, _ := os.Hostname(); f.Hostname != host {
		t.Errorf("hostname %q, want %q", f.Hostname, host)
	}
	if f.Uptime <= 0 {
		t.Errorf("uptime %v, want > 0", f.Uptime)
	}
	for _, a := range f.Addresses {
		if strings.HasPrefix(a, "127.") || a == "::1" || strings.HasPrefix(a, "fe80:") || strings.HasPrefix(a, "169.254.") {
			t.Errorf("address %s should have been left out", a)
		}
	}
	osFile, err := openFirst("/etc/os-release", "/usr/lib/os-release")
	if err != nil {
		t.Fatal(err)
	}
	defer osFile.Close()
	wantOS, _ := ParseOSRelease(osFile)
	if !reflect.DeepEqual(f.OS, wantOS) {
		t.Errorf("os %+v, want %+v", f.OS, wantOS)
	}
	_, flagErr := os.Stat("/run/reboot-required")
	if f.RebootRequired != (flagErr == nil) {
		t.Errorf("reboot required %v, /run/reboot-required exists: %v", f.RebootRequired, flagErr == nil)
	}
}

func TestExecRunnerReportsExitCodeAndStderr(t *testing.T) {
	if _, err := exec.LookPath("ls"); err != nil {
		testenv.SkipOrFail(t, "ls not found: %v", err)
	}
	out, err := ExecRunner{}.Output(t.Context(), "ls", "-d", "/")
	if err != nil || strings.TrimSpace(string(out)) != "/" {
		t.Errorf("ls -d /: %q, %v", out, err)
	}
	_, err = ExecRunner{}.Output(t.Context(), "ls", "/nonexistent-patchbay")
	var exit interface{ ExitCode() int }
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("error %v does not carry the exit code", err)
	}
	// LC_ALL=C keeps the message in English whatever the host's locale.
	if !strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("error %q does not quote stderr", err)
	}
}

func TestBoundProblemsKeepsAtMost200(t *testing.T) {
	var many []string
	for i := range 250 {
		many = append(many, fmt.Sprint(i))
	}
	got := boundProblems(many)
	if len(got) != maxProblems || got[198] != "198" || got[199] != "51 more problems not shown" {
		t.Errorf("got %d problems ending %q", len(got), got[len(got)-2:])
	}
	if got := boundProblems(many[:200]); len(got) != 200 || got[199] != "199" {
		t.Errorf("200 problems must be kept as they are")
	}
}
