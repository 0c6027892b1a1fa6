package pkgmgr

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/inventory"
)

// recorder is a Runner that records argv and answers from a table. It
// stands in for package managers that are not installed here (dnf, yum,
// apk); the argv it records is the contract under test.
type recorder struct {
	calls   [][]string
	answers map[string]answer // by whole argv joined with spaces, else by command name
}

type answer struct {
	out []byte
	err error
}

func (r *recorder) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, append([]string{name}, args...))
	a, ok := r.answers[strings.Join(append([]string{name}, args...), " ")]
	if !ok {
		a, ok = r.answers[name]
	}
	if !ok {
		return nil, ErrNoPackageManager
	}
	return a.out, a.err
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAvailableUpdatesArgv(t *testing.T) {
	ctx := context.Background()
	t.Run("apt reads an image root through Dir and the dpkg status path", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"apt-get": {out: readFixture(t, "testdata/apt/multiarch-kernel.txt")}}}
		us, err := Manager{Format: inventory.FormatDpkg, Root: "/mnt/img", Runner: r}.AvailableUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"apt-get", "-o", "Dir=/mnt/img", "-o", "Dir::State::status=/mnt/img/var/lib/dpkg/status",
			"--simulate", "--quiet", "dist-upgrade"}
		if !slices.Equal(r.calls[0], want) {
			t.Errorf("argv = %q, want %q", r.calls[0], want)
		}
		if len(us) != 4 {
			t.Errorf("got %d updates, want 4", len(us))
		}
	})
	t.Run("apt on the running host passes no root options", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"apt-get": {}}}
		if _, err := (Manager{Format: inventory.FormatDpkg, Root: "/", Runner: r}).AvailableUpdates(ctx); err != nil {
			t.Fatal(err)
		}
		if want := []string{"apt-get", "--simulate", "--quiet", "dist-upgrade"}; !slices.Equal(r.calls[0], want) {
			t.Errorf("argv = %q, want %q", r.calls[0], want)
		}
	})
	t.Run("dnf exit status 100 means updates are listed", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"dnf": {
			out: readFixture(t, "testdata/dnf/check-update-el9.txt"),
			err: &ExitError{Name: "dnf", Code: 100},
		}}}
		us, err := Manager{Format: inventory.FormatRPM, Root: "/mnt/img", Runner: r}.AvailableUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"dnf", "--installroot=/mnt/img",
			"--setopt=reposdir=/mnt/img/etc/yum.repos.d,/mnt/img/etc/yum/repos.d,/mnt/img/etc/distro.repos.d", "--quiet", "check-update"}; !slices.Equal(r.calls[0], want) {
			t.Errorf("argv = %q, want %q", r.calls[0], want)
		}
		if len(us) != 10 {
			t.Errorf("got %d updates, want 10", len(us))
		}
	})
	t.Run("dnf other exit statuses are errors that keep the exit code", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"dnf": {err: &ExitError{Name: "dnf", Code: 1, Stderr: "Error: Failed to download metadata"}}}}
		_, err := Manager{Format: inventory.FormatRPM, Runner: r}.AvailableUpdates(ctx)
		var exitErr *ExitError
		if !errors.As(err, &exitErr) || exitErr.Code != 1 || !strings.Contains(err.Error(), "metadata") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("yum is used when dnf is not installed", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"yum": {
			out: readFixture(t, "testdata/dnf/yum-el7.txt"),
			err: &ExitError{Name: "yum", Code: 100},
		}}}
		us, err := Manager{Format: inventory.FormatRPM, Runner: r}.AvailableUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.calls) != 2 || r.calls[1][0] != "yum" || len(us) != 5 {
			t.Errorf("calls %q, updates %+v", r.calls, us)
		}
	})
	t.Run("apk lists from the image and fills in its architecture", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{
			"apk":                              {out: readFixture(t, "testdata/apk/version-3.19.txt")},
			"apk --root /mnt/img --print-arch": {out: []byte("x86_64\n")},
		}}
		us, err := Manager{Format: inventory.FormatApk, Root: "/mnt/img", Runner: r}.AvailableUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"apk", "--root", "/mnt/img", "version", "-l", "<"}; !slices.Equal(r.calls[0], want) {
			t.Errorf("argv = %q, want %q", r.calls[0], want)
		}
		if want := []string{"apk", "--root", "/mnt/img", "--print-arch"}; !slices.Equal(r.calls[1], want) {
			t.Errorf("argv = %q, want %q", r.calls[1], want)
		}
		if len(us) != 9 || us[0] != (Update{Name: "busybox", Arch: "x86_64", Version: "1.36.1-r19"}) {
			t.Errorf("got %+v, want 9 updates starting with busybox", us)
		}
	})
	t.Run("a missing tool is ErrNoPackageManager", func(t *testing.T) {
		for _, f := range []inventory.Format{inventory.FormatDpkg, inventory.FormatRPM, inventory.FormatApk} {
			_, err := Manager{Format: f, Runner: &recorder{}}.AvailableUpdates(ctx)
			if !errors.Is(err, ErrNoPackageManager) {
				t.Errorf("%s: err = %v, want ErrNoPackageManager", f, err)
			}
		}
	})
	t.Run("an unknown format is an error", func(t *testing.T) {
		if _, err := (Manager{Format: "pacman", Runner: &recorder{}}).AvailableUpdates(ctx); err == nil {
			t.Error("no error")
		}
	})
}

func TestInstallArgv(t *testing.T) {
	ctx := context.Background()
	targets := []Target{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}, {Name: "tzdata", Arch: "all", Version: "2024a-0+deb12u1"}}
	rpmTargets := []Target{{Name: "openssl-libs", Arch: "x86_64", Version: "1:3.0.7-27.el9"}, {Name: "tzdata", Version: "2024a-1.el9"}}
	apkTargets := []Target{{Name: "busybox", Version: "1.36.1-r19"}}
	tests := []struct {
		name     string
		m        Manager
		targets  []Target
		simulate bool
		want     []string
	}{
		{"apt installs exact versions, allowing downgrades, after --", Manager{Format: inventory.FormatDpkg}, targets, false,
			[]string{"apt-get", "install", "-y", "--allow-downgrades", "-o", "Dpkg::Options::=--force-confold", "--",
				"openssl:amd64=3.0.15-1~deb12u1", "tzdata=2024a-0+deb12u1"}},
		{"apt simulates with --simulate", Manager{Format: inventory.FormatDpkg}, targets[:1], true,
			[]string{"apt-get", "--simulate", "install", "-y", "--allow-downgrades", "-o", "Dpkg::Options::=--force-confold", "--",
				"openssl:amd64=3.0.15-1~deb12u1"}},
		{"apt installs into an image with dpkg --root", Manager{Format: inventory.FormatDpkg, Root: "/mnt/img"}, targets[:1], false,
			[]string{"apt-get", "-o", "Dir=/mnt/img", "-o", "Dir::State::status=/mnt/img/var/lib/dpkg/status",
				"-o", "DPkg::Options::=--root=/mnt/img", "install", "-y", "--allow-downgrades",
				"-o", "Dpkg::Options::=--force-confold", "--", "openssl:amd64=3.0.15-1~deb12u1"}},
		{"dnf installs name-epoch:version-release.arch", Manager{Format: inventory.FormatRPM}, rpmTargets, false,
			[]string{"dnf", "-y", "install", "--", "openssl-libs-1:3.0.7-27.el9.x86_64", "tzdata-2024a-1.el9"}},
		{"dnf simulates with --assumeno in an image", Manager{Format: inventory.FormatRPM, Root: "/mnt/img"}, rpmTargets[:1], true,
			[]string{"dnf", "--assumeno", "--installroot=/mnt/img", "--setopt=reposdir=/mnt/img/etc/yum.repos.d,/mnt/img/etc/yum/repos.d,/mnt/img/etc/distro.repos.d",
				"install", "--", "openssl-libs-1:3.0.7-27.el9.x86_64"}},
		{"apk adds name=version", Manager{Format: inventory.FormatApk}, apkTargets, false,
			[]string{"apk", "add", "--", "busybox=1.36.1-r19"}},
		{"apk simulates in an image", Manager{Format: inventory.FormatApk, Root: "/mnt/img"}, apkTargets, true,
			[]string{"apk", "--root", "/mnt/img", "add", "--simulate", "--", "busybox=1.36.1-r19"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{answers: map[string]answer{tt.want[0]: {out: []byte("ok")}}}
			tt.m.Runner = r
			var err error
			if tt.simulate {
				_, err = tt.m.Simulate(ctx, tt.targets)
			} else {
				_, err = tt.m.Install(ctx, tt.targets)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.calls) != 1 || !slices.Equal(r.calls[0], tt.want) {
				t.Errorf("argv = %q\nwant   %q", r.calls, tt.want)
			}
		})
	}
	t.Run("dnf --assumeno's 'Operation aborted' exit 1 is a successful simulation", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"dnf": {out: []byte("Upgrading:\n openssl-libs\nOperation aborted.\n"), err: &ExitError{Name: "dnf", Code: 1}}}}
		out, err := Manager{Format: inventory.FormatRPM, Runner: r}.Simulate(ctx, rpmTargets)
		if err != nil || !strings.Contains(string(out), "Upgrading") {
			t.Errorf("out %q, err %v", out, err)
		}
	})
	t.Run("a failed %post is an install error although dnf exits 0", func(t *testing.T) {
		// As dnf 4.14 printed it for a %post that exited 1.
		out := "Running transaction\n  Upgrading        : pbtest-hello-1.1-1.noarch    1/2 \n" +
			"  Running scriptlet: pbtest-hello-1.1-1.noarch    1/2 \npbtest-hello: post failed on purpose\n" +
			"warning: %post(pbtest-hello-1.1-1.noarch) scriptlet failed, exit status 1\n\nUpgraded:\n  pbtest-hello-1.1-1.noarch\n\nComplete!\n"
		r := &recorder{answers: map[string]answer{"dnf": {out: []byte(out)}}}
		_, err := (Manager{Format: inventory.FormatRPM, Runner: r}).Install(ctx, rpmTargets)
		if !errors.Is(err, ErrScriptletFailed) || !strings.Contains(err.Error(), "%post(pbtest-hello-1.1-1.noarch) scriptlet failed, exit status 1") {
			t.Errorf("err = %v, want ErrScriptletFailed naming the scriptlet", err)
		}
		if _, err := (Manager{Format: inventory.FormatRPM, Runner: r}).Simulate(ctx, rpmTargets); err != nil {
			t.Errorf("simulate: %v", err)
		}
	})
	t.Run("a real dnf failure during install is an error", func(t *testing.T) {
		r := &recorder{answers: map[string]answer{"dnf": {err: &ExitError{Name: "dnf", Code: 1, Stderr: "Error: Unable to find a match"}}}}
		if _, err := (Manager{Format: inventory.FormatRPM, Runner: r}).Install(ctx, rpmTargets); err == nil {
			t.Error("no error")
		}
	})
}

func TestInstallRejectsUnsafeTargetsBeforeRunningAnything(t *testing.T) {
	bad := map[string][]Target{
		"no targets":                nil,
		"name that is an option":    {{Name: "-oAPT::Get::Trivial-Only=false", Version: "1"}},
		"version that is an option": {{Name: "openssl", Version: "--reinstall"}},
		"name with a space":         {{Name: "openssl libssl3", Version: "1"}},
		"name with shell syntax":    {{Name: "a;rm", Version: "1"}},
		"version with a slash":      {{Name: "openssl", Version: "1/../2"}},
		"empty version":             {{Name: "openssl"}},
		"arch that is an option":    {{Name: "openssl", Arch: "-x", Version: "1"}},
		"arch with a colon":         {{Name: "openssl", Arch: "amd64:i386", Version: "1"}},
		"second target bad":         {{Name: "openssl", Version: "1"}, {Name: "-x", Version: "1"}},
		"name with newline":         {{Name: "a\nb", Version: "1"}},
		"name too long":             {{Name: strings.Repeat("a", 256), Version: "1"}},
	}
	for name, targets := range bad {
		for _, f := range []inventory.Format{inventory.FormatDpkg, inventory.FormatRPM, inventory.FormatApk} {
			t.Run(string(f)+" refuses "+name, func(t *testing.T) {
				r := &recorder{answers: map[string]answer{"apt-get": {}, "dnf": {}, "apk": {}}}
				m := Manager{Format: f, Runner: r}
				if _, err := m.Install(context.Background(), targets); !errors.Is(err, ErrInvalidTarget) {
					t.Errorf("Install err = %v, want ErrInvalidTarget", err)
				}
				if _, err := m.Simulate(context.Background(), targets); !errors.Is(err, ErrInvalidTarget) {
					t.Errorf("Simulate err = %v, want ErrInvalidTarget", err)
				}
				if len(r.calls) != 0 {
					t.Errorf("ran %q", r.calls)
				}
			})
		}
	}
}

func TestValidNameAndVersion(t *testing.T) {
	names := map[string]bool{
		"openssl": true, "libstdc++6": true, "python3.11-libs": true, "ssl_client": true, "g++": true,
		"0ad": true, "": false, "-x": false, "+x": false, ".x": false, "_x": false, "a b": false,
		"a:b": false, "a=b": false, "a/b": false, "ä": false, strings.Repeat("a", 255): true, strings.Repeat("a", 256): false,
	}
	for s, want := range names {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
	versions := map[string]bool{
		"1:2.3~rc1-4+deb12u1": true, "1:3.0.7-27.el9_4": true, "1.36.1-r19": true, "2.3_p1-r4": true,
		"2024a": true, "a1": true, "": false, "-1": false, "~1": false, ":1": false, "1 2": false,
		"1/2": false, "1=2": false, "1,2": false, strings.Repeat("1", 256): false,
	}
	for s, want := range versions {
		if got := ValidVersion(s); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", s, got, want)
		}
	}
}
