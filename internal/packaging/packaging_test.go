package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/patchbay/patchbay/internal/testenv"
)

const (
	testServer = "https://patchbay.example.com:8443"
	testToken  = "PBE1.s3cret.00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

// wantConfig is agent.yaml as a package built by testSpec must ship it,
// written out by hand.
const wantConfig = `# Patchbay agent configuration, written by "patchbay package".
# Settings here are overridden by the environment (PATCHBAY_SERVER, ...),
# which is overridden by flags. Unknown keys are refused.
# enroll_token is needed on the first start only: the agent removes it from
# this file once the host is enrolled.
server: "https://patchbay.example.com:8443"
enroll_token: "PBE1.s3cret.00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
labels:
  env: "prod"
  team: "db: primary"
checkin_interval: "5m0s"
`

// testSpec packages this machine's true(1) as the agent: any Linux
// executable will do for checking where the package puts it, and a small
// one keeps the tests quick (cmd/patchbay's package e2e test ships the
// real agent).
func testSpec(t *testing.T, format string) Spec {
	t.Helper()
	self, err := exec.LookPath("true")
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		t.Fatalf("true(1) stands in for the agent binary: %v", err)
	}
	return Spec{Format: format, AgentBinary: self, Version: "1.2.3", Server: testServer, EnrollToken: testToken,
		Labels: map[string]string{"env": "prod", "team": "db: primary"}, CheckinInterval: 5 * time.Minute, OutDir: t.TempDir()}
}

func build(t *testing.T, s Spec) string {
	t.Helper()
	path, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("package file mode %v, want 0600: it holds the enrollment token", fi.Mode().Perm())
	}
	return path
}

func TestBuildNamesThePackageByFormatVersionAndArch(t *testing.T) {
	for format, want := range map[string]string{
		"deb": "patchbay-agent_1.2.3_amd64.deb",
		"rpm": "patchbay-agent-1.2.3-1.x86_64.rpm",
		"apk": "patchbay-agent_1.2.3_x86_64.apk",
	} {
		s := testSpec(t, format)
		if s.AgentBinary == "" || !isAMD64(t, s.AgentBinary) {
			t.Skip("the names written here are amd64 ones")
		}
		if got := filepath.Base(build(t, s)); got != want {
			t.Errorf("%s package named %s, want %s", format, got, want)
		}
	}
}

func isAMD64(t *testing.T, path string) bool {
	arch, err := BinaryArch(path)
	return err == nil && arch == "amd64"
}

func TestBuildRefusesBadInput(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "agent.sh")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"an unknown format", func(s *Spec) { s.Format = "msi" }, `--type "msi": use one of deb, rpm, apk`},
		{"a plain-http server", func(s *Spec) { s.Server = "http://patchbay.example.com" }, "give the server's https:// URL"},
		{"a token that is not one", func(s *Spec) { s.EnrollToken = "hunter2" }, "not a Patchbay enrollment token"},
		{"a missing agent binary", func(s *Spec) { s.AgentBinary = filepath.Join(t.TempDir(), "nope") }, "no such file"},
		{"a script as agent binary", func(s *Spec) { s.AgentBinary = notELF }, "agent binary " + notELF},
		{"a label without a key", func(s *Spec) { s.Labels = map[string]string{"": "x"} }, "a label needs a key"},
		{"a release key that is not a verifier key", func(s *Spec) { s.ReleaseKey = "PRIVATE+KEY+patchbay-release+1+abc" }, "--release-key: not a release verifier key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t, "deb")
			tc.change(&s)
			path, err := Build(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %q, %v; want an error containing %q", path, err, tc.want)
			}
			if entries, _ := os.ReadDir(s.OutDir); len(entries) != 0 {
				t.Errorf("a refused build left %d files in the output directory", len(entries))
			}
		})
	}
}

// fileWant is one file an installed package must leave.
type fileWant struct {
	path string
	mode os.FileMode
}

var installedFiles = []fileWant{
	{"usr/bin/patchbay-agent", 0o755},
	{"usr/lib/systemd/system/patchbay-agent.service", 0o644},
	{"usr/lib/patchbay/agent-revert-guard", 0o755},
	{"etc/patchbay/agent.yaml", 0o600},
	{"etc/patchbay/agent-hooks.json", 0o640},
}

// checkInstalled checks the files the package put under root: where, mode,
// owner root:root, and content.
func checkInstalled(t *testing.T, root string, s Spec) {
	t.Helper()
	for _, f := range installedFiles {
		fi, err := os.Lstat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want a regular file with %v", f.path, fi.Mode(), f.mode)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
			t.Errorf("%s: owned by %d:%d, want root:root", f.path, st.Uid, st.Gid)
		}
	}
	for _, dir := range []struct {
		path string
		mode os.FileMode
	}{{"etc/patchbay", 0o755}, {"var/lib/patchbay", 0o700}, {"var/lib/patchbay/agent", 0o700}} {
		fi, err := os.Stat(filepath.Join(root, dir.path))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != dir.mode {
			t.Errorf("%s: %v %v, want a directory with mode %v", dir.path, fi, err, dir.mode)
		}
	}
	mustEqualFile(t, filepath.Join(root, "etc/patchbay/agent.yaml"), []byte(wantConfig))
	mustEqualFile(t, filepath.Join(root, "etc/patchbay/agent-hooks.json"), []byte("{}\n"))
	bin, err := os.ReadFile(s.AgentBinary)
	if err != nil {
		t.Fatal(err)
	}
	mustEqualFile(t, filepath.Join(root, "usr/bin/patchbay-agent"), bin)
	guard, err := os.ReadFile(guardScript)
	if err != nil {
		t.Fatal(err)
	}
	mustEqualFile(t, filepath.Join(root, "usr/lib/patchbay/agent-revert-guard"), guard)
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/patchbay-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ExecStart=/usr/bin/patchbay-agent --config /etc/patchbay/agent.yaml", "Restart=on-failure",
		"ExecStartPre=/usr/lib/patchbay/agent-revert-guard /usr/bin/patchbay-agent 3", "StartLimitIntervalSec=0", "KillMode=process", "WantedBy=multi-user.target"} {
		if !bytes.Contains(unit, []byte("\n"+line+"\n")) {
			t.Errorf("unit lacks the line %q", line)
		}
	}
	for _, line := range []string{"ProtectSystem=", "ProtectKernelModules=", "NoNewPrivileges=", "PrivateTmp=", "RestrictSUIDSGID="} {
		if bytes.Contains(unit, []byte("\n"+line)) {
			t.Errorf("unit sets %s, which breaks installing packages", line)
		}
	}
	link, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/patchbay-agent.service"))
	if err != nil || link != "/usr/lib/systemd/system/patchbay-agent.service" {
		t.Errorf("the unit is not enabled in the image: link %q, %v", link, err)
	}
}

func mustEqualFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if !bytes.Equal(got, want) {
		if len(want) < 4096 {
			t.Errorf("%s:\n%s\nwant:\n%s", path, got, want)
		} else {
			t.Errorf("%s: %d bytes differ from the %d bytes packaged", path, len(got), len(want))
		}
	}
}

// verifyUnit runs systemd-analyze verify on the unit installed in root;
// any complaint fails, though systemd-analyze exits 0 on most.
func verifyUnit(t *testing.T, root string) {
	t.Helper()
	testenv.NeedTools(t, "Debian: apt-get install -y systemd", "systemd-analyze")
	// The unit's dependencies (multi-user.target, network-online.target,
	// sysinit.target...) come from this machine's systemd, copied into the
	// image so that --root resolves them there.
	targets, _ := filepath.Glob("/usr/lib/systemd/system/*.target")
	if len(targets) == 0 {
		targets, _ = filepath.Glob("/lib/systemd/system/*.target")
	}
	for _, tg := range targets {
		b, err := os.ReadFile(tg)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "usr/lib/systemd/system", filepath.Base(tg))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("systemd-analyze", "verify", "--root="+root, "/usr/lib/systemd/system/patchbay-agent.service")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// hostUntouched fails when the maintainer scripts enabled the unit on the
// machine running the test instead of in the image.
func hostUntouched(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/etc/systemd/system/multi-user.target.wants/patchbay-agent.service", "/var/lib/patchbay/agent"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on this machine: a maintainer script ran outside the image root (or an agent is installed here)", p)
		}
	}
}

// dpkgRoot makes an empty dpkg image root.
func dpkgRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	debtest.WriteFile(t, filepath.Join(root, "var/lib/dpkg/status"), "")
	return root
}

func TestDebInstallsUpgradesAndPurgesInAnImageRoot(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install -y dpkg busybox-static", "dpkg", "busybox")
	testenv.NeedRoot(t, "dpkg --root chroots into the image to run the maintainer scripts")
	hostUntouched(t)
	s := testSpec(t, "deb")
	deb := build(t, s)
	root := dpkgRoot(t)
	debtest.AddStaticShell(t, root) // the scripts run chrooted into root
	debtest.Run(t, "", "dpkg", "--root="+root, "--install", deb)

	checkInstalled(t, root, s)
	verifyUnit(t, root)
	hostUntouched(t)
	conffiles, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/patchbay-agent.conffiles"))
	if err != nil || string(conffiles) != "/etc/patchbay/agent-hooks.json\n/etc/patchbay/agent.yaml\n" {
		t.Errorf("conffiles = %q, %v; want agent-hooks.json and agent.yaml", conffiles, err)
	}

	// The agent enrolled: it dropped the token from agent.yaml, and its
	// state must survive an upgrade and removal, not purge.
	config := filepath.Join(root, "etc/patchbay/agent.yaml")
	if err := agent.RemoveEnrollToken(config); err != nil {
		t.Fatal(err)
	}
	enrolled := mustRead(t, config)
	state := filepath.Join(root, "var/lib/patchbay/agent/state.json")
	debtest.WriteFile(t, state, `{"host_id":"h1"}`)

	// An upgrade built from the same spec installs without a conffile
	// prompt (dpkg reads no answer here: stdin is empty) and keeps the
	// local agent.yaml, token-less.
	up := s
	up.Version, up.OutDir = "1.2.4", t.TempDir()
	debtest.Run(t, "", "dpkg", "--root="+root, "--install", build(t, up))
	if got := debtest.InstalledVersion(t, root, "patchbay-agent"); got != "1.2.4" {
		t.Errorf("installed version after the upgrade: %q, want 1.2.4", got)
	}
	mustEqualFile(t, config, enrolled)
	if _, err := os.Stat(state); err != nil {
		t.Errorf("the upgrade deleted the agent's state: %v", err)
	}
	hostUntouched(t)

	// A self-update left the previous binary and an open trial.
	for _, f := range []string{"usr/bin/patchbay-agent.prev", "usr/bin/patchbay-agent.pending", "usr/bin/patchbay-agent.trial"} {
		debtest.WriteFile(t, filepath.Join(root, f), "x")
	}
	debtest.Run(t, "", "dpkg", "--root="+root, "--remove", "patchbay-agent")
	if _, err := os.Stat(state); err != nil {
		t.Errorf("removal deleted the agent's state: %v", err)
	}
	for _, gone := range []string{"usr/bin/patchbay-agent", "usr/lib/systemd/system/patchbay-agent.service", "etc/systemd/system/multi-user.target.wants/patchbay-agent.service",
		"usr/bin/patchbay-agent.prev", "usr/bin/patchbay-agent.pending", "usr/bin/patchbay-agent.trial", "usr/lib/patchbay/agent-revert-guard"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s is still there after removal", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/patchbay/agent.yaml")); err != nil {
		t.Errorf("removal (not purge) deleted the config file: %v", err)
	}
	debtest.Run(t, "", "dpkg", "--root="+root, "--purge", "patchbay-agent")
	for _, gone := range []string{"var/lib/patchbay", "etc/patchbay"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s is still there after purge", gone)
		}
	}
	hostUntouched(t)
}

// With --force-script-chrootless dpkg runs the scripts on this machine with
// DPKG_ROOT naming the image: they must still act on the image only.
func TestDebScriptsRunChrootlessActOnTheImageOnly(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install -y dpkg", "dpkg")
	testenv.NeedRoot(t, "dpkg --root installs files owned by root")
	hostUntouched(t)
	s := testSpec(t, "deb")
	_, vkey, err := release.GenerateKey("patchbay-release")
	if err != nil {
		t.Fatal(err)
	}
	s.ReleaseKey = vkey
	deb := build(t, s)
	root := dpkgRoot(t)
	debtest.Run(t, "", "dpkg", "--root="+root, "--force-script-chrootless", "--install", deb)
	checkInstalled(t, root, s)
	mustEqualFile(t, filepath.Join(root, "etc/patchbay/release.pub"), []byte(vkey+"\n"))
	if fi, err := os.Stat(filepath.Join(root, "etc/patchbay/release.pub")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("release.pub: %v %v, want mode 0644", fi, err)
	}
	hostUntouched(t)
	debtest.Run(t, "", "dpkg", "--root="+root, "--force-script-chrootless", "--purge", "patchbay-agent")
	if _, err := os.Lstat(filepath.Join(root, "var/lib/patchbay")); err == nil {
		t.Error("purge left var/lib/patchbay in the image")
	}
	hostUntouched(t)
}

func TestRPMInstallsIntoAnImageRootAndRemovalKeepsItsState(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install -y rpm busybox-static", "rpm", "busybox")
	testenv.NeedRoot(t, "rpm --root chroots into the image to run the scriptlets")
	hostUntouched(t)
	s := testSpec(t, "rpm")
	pkg := build(t, s)
	root := t.TempDir()
	debtest.AddStaticShell(t, root)
	rpm := func(args ...string) []byte {
		return debtest.Run(t, "", "rpm", append([]string{"--root", root, "--dbpath", "/var/lib/rpm"}, args...)...)
	}
	rpm("--install", "--quiet", pkg)
	checkInstalled(t, root, s)
	verifyUnit(t, root)
	hostUntouched(t)
	if got := string(rpm("--query", "--configfiles", "patchbay-agent")); got != "/etc/patchbay/agent-hooks.json\n/etc/patchbay/agent.yaml\n" {
		t.Errorf("config files = %q", got)
	}
	if got := string(rpm("--query", "--queryformat", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", "patchbay-agent")); !strings.Contains(got, "cn /etc/patchbay/agent.yaml\n") {
		t.Errorf("agent.yaml is not %%config(noreplace): %q", got)
	}

	state := filepath.Join(root, "var/lib/patchbay/agent/state.json")
	debtest.WriteFile(t, state, `{"host_id":"h1"}`)
	rpm("--erase", "patchbay-agent")
	if _, err := os.Stat(state); err != nil {
		t.Errorf("removal deleted the agent's state: %v", err)
	}
	for _, gone := range []string{"usr/bin/patchbay-agent", "etc/systemd/system/multi-user.target.wants/patchbay-agent.service"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s is still there after removal", gone)
		}
	}
	hostUntouched(t)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
