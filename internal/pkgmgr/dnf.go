package pkgmgr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchbay/patchbay/internal/inventory"
)

// dnfCheckUpdateAvailable is the exit status of "dnf check-update" (and
// yum's) when updates are available.
const dnfCheckUpdateAvailable = 100

// ErrScriptletFailed reports that a package's scriptlet (%pre, %post,
// %preun, %postun, a trigger) failed during an install. dnf and yum exit 0
// when only a %post-like scriptlet failed and the package is recorded at
// the new version, so the exit status alone would call it a success.
var ErrScriptletFailed = errors.New("package scriptlet failed")

// runDNF runs dnf, or yum on hosts that have no dnf (EL7).
func (m Manager) runDNF(ctx context.Context, args ...string) (tool string, out []byte, err error) {
	root, err := m.root()
	if err != nil {
		return "dnf", nil, err
	}
	r, cleanup, err := m.dnfRunner(root)
	if err != nil {
		return "dnf", nil, err
	}
	defer cleanup()
	out, err = r.Run(ctx, "dnf", args...)
	if errors.Is(err, ErrNoPackageManager) {
		out, err = r.Run(ctx, "yum", args...)
		return "yum", out, err
	}
	return "dnf", out, err
}

// dnfRootOptions points dnf (or yum) at the image under root. dnf takes
// the image's dnf.conf and repository files when the image has them, but
// falls back to the running host's when it has none; reposdir is named
// explicitly (the directories dnf searches by default, inside the image)
// so that an image is only ever patched from its own repositories.
// releasever is detected from the image's rpm database (its system-release
// package), as dnf does by itself.
func dnfRootOptions(root string) []string {
	if root == "" {
		return nil
	}
	return []string{"--installroot=" + root,
		"--setopt=reposdir=" + root + "/etc/yum.repos.d," + root + "/etc/yum/repos.d," + root + "/etc/distro.repos.d"}
}

// envRunner is a Runner that can run commands with added environment
// variables (ExecRunner).
type envRunner interface {
	WithEnv(env ...string) Runner
}

// dnfRunner returns the runner for dnf on the image under root, and what
// to call when dnf is done.
//
// Even with --installroot, dnf opens the rpm database where the running
// host's rpm macros say (%_dbpath), inside the root. Debian's and Ubuntu's
// rpm say ~/.rpmdb, so dnf there would read ROOT/root/.rpmdb, see an image
// with nothing installed, and record what it installs where the image's
// own rpm never looks. dnf has no --dbpath; the last macro file rpm reads
// is ~/.rpmmacros, so under a root dnf runs with HOME set to a private
// directory whose .rpmmacros names the image's database directory. On an
// rpm host that already agrees this changes nothing.
func (m Manager) dnfRunner(root string) (Runner, func(), error) {
	r := m.runner()
	er, ok := r.(envRunner)
	if root == "" || !ok {
		return r, func() {}, nil
	}
	dbpath := inventory.RPMDatabaseDir(root)
	if dbpath == "" {
		dbpath = "/var/lib/rpm" // where rpm and dnf create one in an empty root
	}
	home, err := os.MkdirTemp("", "patchbay-dnf-")
	if err != nil {
		return nil, nil, fmt.Errorf("dnf: %w", err)
	}
	cleanup := func() { os.RemoveAll(home) }
	if err := os.WriteFile(filepath.Join(home, ".rpmmacros"), []byte("%_dbpath "+dbpath+"\n"), 0o600); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dnf: %w", err)
	}
	return er.WithEnv("HOME=" + home), cleanup, nil
}

// dnfUpdates runs "dnf --quiet check-update": exit status 100 means
// updates are listed, 0 means none, anything else is an error. dnf may
// refresh expired repository metadata as its own configuration
// (metadata_expire) says; Patchbay adds no refresh of its own.
func (m Manager) dnfUpdates(ctx context.Context) ([]Update, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	args := append(dnfRootOptions(root), "--quiet", "check-update")
	_, out, err := m.runDNF(ctx, args...)
	var exitErr *ExitError
	if errors.As(err, &exitErr) && exitErr.Code == dnfCheckUpdateAvailable {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return parseDNFCheckUpdate(out), nil
}

// dnfInstall uses "dnf install NAME-[EPOCH:]VERSION-RELEASE.ARCH" for both
// directions: given an exact version, dnf installs it whatever version is
// installed, so it also downgrades (rollback). yum (EL7) cannot downgrade
// through install; there a rollback target is reported by yum as nothing
// to do or as an error.
func (m Manager) dnfInstall(ctx context.Context, targets []Target, dryRun bool) ([]byte, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	answer := "-y"
	if dryRun {
		answer = "--assumeno"
	}
	args := append([]string{answer}, dnfRootOptions(root)...)
	args = append(args, "install", "--")
	for _, t := range targets {
		spec := t.Name + "-" + t.Version
		if t.Arch != "" {
			spec += "." + t.Arch
		}
		args = append(args, spec)
	}
	tool, out, err := m.runDNF(ctx, args...)
	var exitErr *ExitError
	if dryRun && errors.As(err, &exitErr) && exitErr.Code == 1 &&
		(bytes.Contains(out, []byte("Operation aborted")) || strings.Contains(exitErr.Stderr, "Operation aborted")) {
		// --assumeno answers the confirmation with "no", which dnf
		// reports as exit status 1 after printing the transaction.
		err = nil
	}
	if err == nil && !dryRun {
		if failed := scriptletFailures(out); len(failed) > 0 {
			err = fmt.Errorf("%s: %w: %s", tool, ErrScriptletFailed, strings.Join(failed, "; "))
		}
	}
	return out, err
}

// scriptletFailures returns rpm's reports of failed scriptlets from dnf's
// (or yum's) standard output, which relays them as
//
//	warning: %post(pbtest-hello-1.1-1.noarch) scriptlet failed, exit status 1
//
// ("error:" for the scriptlets that stop a package, such as %pre). dnf
// adds "Error in POSTIN scriptlet in rpm package NAME" on standard error
// and still exits 0.
func scriptletFailures(out []byte) []string {
	var failed []string
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimSpace(line)
		msg, ok := strings.CutPrefix(line, "warning: ")
		if !ok {
			msg, ok = strings.CutPrefix(line, "error: ")
		}
		if ok && strings.HasPrefix(msg, "%") && strings.Contains(msg, ") scriptlet failed") {
			failed = append(failed, msg)
		}
	}
	return failed
}

// parseDNFCheckUpdate reads dnf (or yum) check-update output:
//
//	openssl-libs.x86_64            1:3.0.7-27.el9           baseos
//
// A name too long for its column is printed alone and the version and
// repository follow, indented, on the next line. The "Obsoleting Packages"
// section at the end repeats packages already listed and is skipped, as
// are informational lines (metadata age, plugins, mirrors, security
// notices) that do not have the shape of an update.
func parseDNFCheckUpdate(out []byte) []Update {
	var us []Update
	var acc []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.ToLower(line), "obsoleting packages") {
			break
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			acc = nil
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			acc = fields // a new record starts in the first column
		} else {
			acc = append(acc, fields...)
		}
		if len(acc) < 3 {
			continue
		}
		if len(acc) == 3 {
			if u, ok := dnfUpdate(acc); ok {
				us = append(us, u)
			}
		}
		acc = nil
	}
	// A scanner error means a line over 1 MiB: not dnf output; what was
	// read so far is still returned.
	return us
}

func dnfUpdate(f []string) (Update, bool) {
	i := strings.LastIndexByte(f[0], '.')
	if i < 0 {
		return Update{}, false
	}
	u := Update{Name: f[0][:i], Arch: f[0][i+1:], Version: f[1], Repo: f[2]}
	if !ValidName(u.Name) || !validArch(u.Arch) || !ValidVersion(u.Version) {
		return Update{}, false
	}
	return u, true
}
