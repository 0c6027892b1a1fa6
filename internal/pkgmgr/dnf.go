package pkgmgr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
)

// dnfCheckUpdateAvailable is the exit status of "dnf check-update" (and
// yum's) when updates are available.
const dnfCheckUpdateAvailable = 100

// runDNF runs dnf, or yum on hosts that have no dnf (EL7).
func (m Manager) runDNF(ctx context.Context, args ...string) (tool string, out []byte, err error) {
	out, err = m.runner().Run(ctx, "dnf", args...)
	if errors.Is(err, ErrNoPackageManager) {
		out, err = m.runner().Run(ctx, "yum", args...)
		return "yum", out, err
	}
	return "dnf", out, err
}

func dnfRootOptions(root string) []string {
	if root == "" {
		return nil
	}
	return []string{"--installroot=" + root}
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
	_, out, err := m.runDNF(ctx, args...)
	var exitErr *ExitError
	if dryRun && errors.As(err, &exitErr) && exitErr.Code == 1 &&
		(bytes.Contains(out, []byte("Operation aborted")) || strings.Contains(exitErr.Stderr, "Operation aborted")) {
		// --assumeno answers the confirmation with "no", which dnf
		// reports as exit status 1 after printing the transaction.
		err = nil
	}
	return out, err
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
