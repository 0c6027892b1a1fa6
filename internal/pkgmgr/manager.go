package pkgmgr

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Manager drives the package manager of one package format on the host
// (Root "/" or empty) or on a host image mounted at Root.
type Manager struct {
	Format inventory.Format
	Root   string
	Runner Runner // nil means ExecRunner{}
}

// Update is a newer version of an installed package that the host's
// configured repositories offer.
type Update struct {
	Name    string
	Arch    string // empty when the tool does not say (apk)
	Version string // full version as the ecosystem writes it ("1:2.3-4.el9", "2.3-r4")
	Repo    string // where it comes from as the tool names it; empty for apk
}

// Target is an exact package version to install. Installing a target
// older than the installed version downgrades (rollback).
type Target struct {
	Name    string
	Arch    string // optional; narrows the package on multiarch/multilib hosts
	Version string
}

// AvailableUpdates lists the updates the host's package lists offer,
// without changing anything and without refreshing the lists.
func (m Manager) AvailableUpdates(ctx context.Context) ([]Update, error) {
	var (
		us  []Update
		err error
	)
	switch m.Format {
	case inventory.FormatDpkg:
		us, err = m.aptUpdates(ctx)
	case inventory.FormatRPM:
		us, err = m.dnfUpdates(ctx)
	case inventory.FormatApk:
		us, err = m.apkUpdates(ctx)
	default:
		return nil, fmt.Errorf("available updates: unknown package format %q", m.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("available %s updates: %w", m.Format, err)
	}
	return us, nil
}

// Install installs exactly the given versions, upgrading or downgrading
// each package as needed, and returns the tool's output. Every target is
// validated before anything runs.
func (m Manager) Install(ctx context.Context, targets []Target) ([]byte, error) {
	return m.install(ctx, targets, false)
}

// Simulate does what Install would do as a dry run (apt-get --simulate,
// dnf --assumeno, apk --simulate) and returns the tool's output.
func (m Manager) Simulate(ctx context.Context, targets []Target) ([]byte, error) {
	return m.install(ctx, targets, true)
}

func (m Manager) install(ctx context.Context, targets []Target, dryRun bool) ([]byte, error) {
	verb := "install"
	if dryRun {
		verb = "simulate install"
	}
	if err := validateTargets(targets); err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	var (
		out []byte
		err error
	)
	switch m.Format {
	case inventory.FormatDpkg:
		out, err = m.aptInstall(ctx, targets, dryRun)
	case inventory.FormatRPM:
		out, err = m.dnfInstall(ctx, targets, dryRun)
	case inventory.FormatApk:
		out, err = m.apkInstall(ctx, targets, dryRun)
	default:
		return nil, fmt.Errorf("%s: unknown package format %q", verb, m.Format)
	}
	if err != nil {
		return out, fmt.Errorf("%s %s packages: %w", verb, m.Format, err)
	}
	return out, nil
}

func (m Manager) runner() Runner {
	if m.Runner == nil {
		return ExecRunner{}
	}
	return m.Runner
}

// root returns the absolute image root, or "" for the running host. An
// absolute path also never starts with '-', so it cannot be read as an
// option.
func (m Manager) root() (string, error) {
	if m.Root == "" {
		return "", nil
	}
	abs, err := filepath.Abs(m.Root)
	if err != nil {
		return "", fmt.Errorf("root %q: %w", m.Root, err)
	}
	if abs == "/" {
		return "", nil
	}
	return abs, nil
}

// Refresh updates the package lists from the configured repositories
// (apt-get update, dnf makecache, apk update), so that an exact version a
// job names can be found. Jobs call it before installing; check-ins never
// do.
func (m Manager) Refresh(ctx context.Context) ([]byte, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	switch m.Format {
	case inventory.FormatDpkg:
		args := aptRootOptions(root)
		if root != "" {
			// The image's lists directory may not be readable by _apt.
			args = append(args, "-o", "APT::Sandbox::User=root")
		}
		return m.runner().Run(ctx, "apt-get", append(args, "--quiet", "update")...)
	case inventory.FormatRPM:
		_, out, err := m.runDNF(ctx, append(dnfRootOptions(root), "--quiet", "makecache")...)
		return out, err
	case inventory.FormatApk:
		args := []string{"update"}
		if root != "" {
			args = append([]string{"--root", root}, args...)
		}
		return m.runner().Run(ctx, "apk", args...)
	}
	return nil, fmt.Errorf("refresh: %w for format %q", ErrNoPackageManager, m.Format)
}

// Repair finishes a package transaction that a crash or reboot
// interrupted: dpkg --configure -a for dpkg; rpm-based and apk systems
// need nothing here (their transactions are atomic or replayed by the
// next install).
func (m Manager) Repair(ctx context.Context) ([]byte, error) {
	if m.Format != inventory.FormatDpkg {
		return nil, nil
	}
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	args := []string{"--configure", "-a"}
	if root != "" {
		args = append([]string{"--root=" + root}, args...)
	}
	return m.runner().Run(ctx, "dpkg", args...)
}
