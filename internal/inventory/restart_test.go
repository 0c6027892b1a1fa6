package inventory

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRestartDetectorOutputIsParsed(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		parse   func([]byte) Restarts
		want    []string
		reboot  string
		dropped int
	}{
		{
			name: "needrestart's documented batch example lists two services and no kernel upgrade",
			file: "needrestart-readme.txt", parse: ParseNeedrestartBatch,
			want: []string{"systemd-journald.service", "systemd-machined.service"},
		},
		{
			name: "a pending kernel upgrade on Ubuntu is a reboot, quoting both kernels",
			file: "needrestart-ubuntu2204-kernel.txt", parse: ParseNeedrestartBatch,
			want:   []string{"cron.service", "networkd-dispatcher.service", "ssh.service", "systemd-journald.service", "unattended-upgrades.service", "user@1000.service"},
			reboot: "needrestart: running kernel 5.15.0-88-generic, expected 5.15.0-91-generic",
		},
		{
			name: "escaped instance names are kept and duplicates listed once",
			file: "needrestart-debian12-services.txt", parse: ParseNeedrestartBatch,
			want: []string{"nginx.service", "php8.2-fpm.service", "ssh.service", `systemd-fsck@dev-disk-by\x2duuid-2c5d\x2d1f3a.service`},
		},
		{
			name: "hostile names (options, shell, paths, spaces, other unit types, bare templates) are dropped",
			file: "needrestart-hostile.txt", parse: ParseNeedrestartBatch,
			want: []string{"nginx.service"}, dropped: 10,
		},
		{
			name: "needs-restarting -s lists units one a line after its messages",
			file: "needs-restarting-rhel9.txt", parse: ParseNeedsRestartingServices,
			want: []string{"NetworkManager.service", "auditd.service", "chronyd.service", "dbus-broker.service", "sshd.service", "systemd-logind.service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.parse([]byte(testdataFile(t, "restart/"+tt.file)))
			if !slices.Equal(r.Services, tt.want) || r.Reboot != tt.reboot || r.Dropped != tt.dropped {
				t.Errorf("got services %q reboot %q dropped %d\nwant services %q reboot %q dropped %d",
					r.Services, r.Reboot, r.Dropped, tt.want, tt.reboot, tt.dropped)
			}
		})
	}
}

func TestServiceUnitNamesAreValidatedStrictly(t *testing.T) {
	good := []string{"ssh.service", "user@1000.service", "php8.2-fpm.service", "a:b_c.service", `x\x2dy.service`}
	bad := []string{"", ".service", "-x.service", "ssh", "ssh.socket", "getty@.service", "a b.service", "a/b.service",
		`a\x2.service`, `a\n.service`, "a;b.service", "é.service", strings.Repeat("a", 250) + ".service", "ssh.service\n"}
	for _, s := range good {
		if !ValidServiceUnit(s) {
			t.Errorf("ValidServiceUnit(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidServiceUnit(s) {
			t.Errorf("ValidServiceUnit(%q) = true, want false", s)
		}
	}
}

func TestServicesNeedingRestartAreBounded(t *testing.T) {
	var b bytes.Buffer
	for i := range MaxRestartServices + 50 {
		b.WriteString("NEEDRESTART-SVC: svc" + strconv.Itoa(i) + ".service\n")
	}
	if r := ParseNeedrestartBatch(b.Bytes()); len(r.Services) != MaxRestartServices {
		t.Errorf("%d services kept, want the bound %d", len(r.Services), MaxRestartServices)
	}
}

func TestALiveHostReportsItsServicesNeedingRestart(t *testing.T) {
	tests := []struct {
		name         string
		format       Format
		tool         string
		result       fakeResult
		want         []string
		wantReboot   bool
		wantProblems []string
	}{
		{
			name: "dpkg host with needrestart", format: FormatDpkg, tool: "needrestart",
			result:     fakeResult{out: []byte(testdataFile(t, "restart/needrestart-ubuntu2204-kernel.txt"))},
			want:       []string{"cron.service", "networkd-dispatcher.service", "ssh.service", "systemd-journald.service", "unattended-upgrades.service", "user@1000.service"},
			wantReboot: true,
		},
		{
			name: "rpm host with dnf5 needs-restarting exiting 1", format: FormatRPM, tool: "needs-restarting",
			result: fakeResult{out: []byte("sshd.service\n"), err: exitError(1)},
			want:   []string{"sshd.service"},
		},
		{
			name: "a failing detector is a problem, not a list", format: FormatRPM, tool: "needs-restarting",
			result:       fakeResult{err: exitError(3)},
			wantProblems: []string{"needs-restarting -s: exit status 3"},
		},
		{
			name: "malformed names are counted as a problem", format: FormatDpkg, tool: "needrestart",
			result:       fakeResult{out: []byte("NEEDRESTART-SVC: ssh.service\nNEEDRESTART-SVC: -f.service\n")},
			want:         []string{"ssh.service"},
			wantProblems: []string{"needrestart: 1 malformed service names ignored"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := &fakeRunner{results: map[string]fakeResult{tt.tool: tt.result}}
			lookPath := func(name string) (string, error) {
				if name == tt.tool {
					return "/usr/sbin/" + name, nil
				}
				return "", exec.ErrNotFound
			}
			fsys, err := os.OpenRoot(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fsys.Close() })
			col := &collection{c: Collector{Runner: runner, lookPath: lookPath}, ctx: t.Context(), root: "/", fsys: fsys, live: true}
			col.snap.Facts.PackageFormat = tt.format
			col.readRestarts()
			f := col.snap.Facts
			if !slices.Equal(f.ServicesNeedingRestart, tt.want) || f.RebootRequired != tt.wantReboot || !slices.Equal(col.snap.Problems, tt.wantProblems) {
				t.Errorf("services %q reboot %v problems %q; want %q %v %q", f.ServicesNeedingRestart, f.RebootRequired, col.snap.Problems, tt.want, tt.wantReboot, tt.wantProblems)
			}
			if wantCall := map[string]string{"needrestart": "needrestart -b", "needs-restarting": "needs-restarting -s"}[tt.tool]; !slices.Equal(runner.calls, []string{wantCall}) {
				t.Errorf("calls %q, want %q", runner.calls, wantCall)
			}
		})
	}
}

func TestAnImageRootRunsNoRestartDetector(t *testing.T) {
	runner := &fakeRunner{}
	col := &collection{c: Collector{Runner: runner, lookPath: func(string) (string, error) { return "/x", nil }}, ctx: t.Context(), live: false}
	col.snap.Facts.PackageFormat = FormatDpkg
	col.readRestarts()
	if len(runner.calls) != 0 || col.snap.Facts.ServicesNeedingRestart != nil {
		t.Errorf("image root ran %q and reported %q", runner.calls, col.snap.Facts.ServicesNeedingRestart)
	}
}

func checkRestarts(t *testing.T, r Restarts) {
	t.Helper()
	if len(r.Services) > MaxRestartServices || !slices.IsSorted(r.Services) || len(slices.Compact(slices.Clone(r.Services))) != len(r.Services) {
		t.Errorf("services not bounded, sorted and unique: %q", r.Services)
	}
	for _, s := range r.Services {
		if !ValidServiceUnit(s) {
			t.Errorf("invalid unit %q passed through", s)
		}
	}
	if len(r.Reboot) > 300 || strings.ContainsAny(r.Reboot, "\n\r;") {
		t.Errorf("reboot reason %q is not a bounded single line", r.Reboot)
	}
}

func FuzzParseNeedrestartBatch(f *testing.F) {
	addSeeds(f, "restart/needrestart-*")
	f.Fuzz(func(t *testing.T, data []byte) { checkRestarts(t, ParseNeedrestartBatch(data)) })
}

func FuzzParseNeedsRestartingServices(f *testing.F) {
	addSeeds(f, "restart/needs-restarting-*")
	f.Add([]byte("sshd\n-rf\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkRestarts(t, ParseNeedsRestartingServices(data)) })
}

func TestNeedrestartRebootReasons(t *testing.T) {
	tests := []struct{ name, out, want string }{
		{"an ABI-compatible kernel upgrade without kernel names", "NEEDRESTART-KSTA: 2\n", "needrestart: a kernel upgrade is pending"},
		{"a kernel name that is not a release is not quoted", "NEEDRESTART-KCUR: 1; reboot\nNEEDRESTART-KEXP: 6.1.0-27-amd64\nNEEDRESTART-KSTA: 3\n", "needrestart: a kernel upgrade is pending"},
		{"a pending microcode update", "NEEDRESTART-KSTA: 1\nNEEDRESTART-UCSTA: 2\n", "needrestart: a CPU microcode update is pending"},
		{"unknown kernel status is not a reboot", "NEEDRESTART-KSTA: 0\nNEEDRESTART-UCSTA: 0\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseNeedrestartBatch([]byte(tt.out)).Reboot; got != tt.want {
				t.Errorf("reboot %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRestartDetectionIsReusedUntilPackagesChangeOrItAges(t *testing.T) {
	runner := &fakeRunner{results: map[string]fakeResult{"needrestart": {out: []byte("NEEDRESTART-KSTA: 1\nNEEDRESTART-SVC: ssh.service\n")}}}
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	cache := &RestartCache{TTL: 15 * time.Minute}
	c := Collector{Runner: runner, RestartCache: cache, Now: func() time.Time { return now },
		lookPath: func(string) (string, error) { return "/usr/sbin/needrestart", nil }}
	pkgs := []Package{{Name: "openssl", Arch: "amd64", Version: "3.0.2-0ubuntu1"}, {Name: "bash", Arch: "amd64", Version: "5.1-6"}}
	collect := func(c Collector, pkgs []Package) []string {
		t.Helper()
		col := &collection{c: c, ctx: t.Context(), root: "/", live: true}
		col.snap.Facts.PackageFormat, col.snap.Packages = FormatDpkg, pkgs
		col.readRestarts()
		return col.snap.Facts.ServicesNeedingRestart
	}
	steps := []struct {
		name     string
		do       func() []string
		wantRuns int
	}{
		{"the first collection detects", func() []string { return collect(c, pkgs) }, 1},
		{"the same packages a minute later reuse it", func() []string { now = now.Add(time.Minute); return collect(c, pkgs) }, 1},
		{"the same packages in another order reuse it", func() []string { return collect(c, []Package{pkgs[1], pkgs[0]}) }, 1},
		{"an upgrade detects afresh", func() []string {
			return collect(c, []Package{{Name: "openssl", Arch: "amd64", Version: "3.0.2-0ubuntu1.9"}, pkgs[1]})
		}, 2},
		{"back on the old set, the cache holds the new one: detect", func() []string { return collect(c, pkgs) }, 3},
		{"after the TTL it detects again", func() []string { now = now.Add(15 * time.Minute); return collect(c, pkgs) }, 4},
		{"a fresh collection ignores a current entry", func() []string { fresh := c; fresh.fresh = true; return collect(fresh, pkgs) }, 5},
	}
	for _, s := range steps {
		if got := s.do(); !slices.Equal(got, []string{"ssh.service"}) || len(runner.calls) != s.wantRuns {
			t.Errorf("%s: services %q after %d runs, want [ssh.service] after %d", s.name, got, len(runner.calls), s.wantRuns)
		}
	}
}
