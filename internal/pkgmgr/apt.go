package pkgmgr

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// aptRootOptions points apt at the image under root: Dir moves the apt
// state, cache and configuration directories; the dpkg status file is an
// absolute path by default, so it is moved separately. Configuration files
// are still read from the running host's /etc/apt/apt.conf(.d) because
// apt reads them before it parses -o.
func aptRootOptions(root string) []string {
	if root == "" {
		return nil
	}
	return []string{
		"-o", "Dir=" + root,
		"-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
	}
}

// aptUpdates runs "apt-get --simulate --quiet dist-upgrade". dist-upgrade
// (not upgrade) is used so that updates needing new or removed
// dependencies, such as kernel meta packages, are listed too. --simulate
// changes nothing and needs no lock. The package lists are not refreshed
// (no apt-get update): the host's own schedule does that, and the agent
// must not add network traffic or lock contention to every check-in.
func (m Manager) aptUpdates(ctx context.Context) ([]Update, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	args := append(aptRootOptions(root), "--simulate", "--quiet", "dist-upgrade")
	out, err := m.runner().Run(ctx, "apt-get", args...)
	if err != nil {
		return nil, err
	}
	return parseAptSimulate(out)
}

func (m Manager) aptInstall(ctx context.Context, targets []Target, dryRun bool) ([]byte, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	args := aptRootOptions(root)
	if root != "" {
		// dpkg installs into the image (and runs maintainer scripts
		// chrooted there) instead of into the running host.
		args = append(args, "-o", "DPkg::Options::=--root="+root)
	}
	if dryRun {
		args = append(args, "--simulate")
	}
	args = append(args, "install", "-y", "--allow-downgrades",
		"-o", "Dpkg::Options::=--force-confold", "--")
	for _, t := range targets {
		spec := t.Name
		if t.Arch != "" && t.Arch != "all" {
			spec += ":" + t.Arch
		}
		args = append(args, spec+"="+t.Version)
	}
	return m.runner().Run(ctx, "apt-get", args...)
}

// parseAptSimulate reads the "Inst" lines of apt-get --simulate output:
//
//	Inst NAME[:ARCH] [OLD] (NEW RELEASE[, RELEASE...] [ARCH]) [BROKEN-DEPS]
//
// Lines without [OLD] install a package that is not installed yet (a new
// dependency such as a new kernel image); they are not updates of an
// installed package and are left out. Other lines (Conf, Remv, progress)
// are ignored. A malformed Inst line is an error.
func parseAptSimulate(out []byte) ([]Update, error) {
	var us []Update
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			continue
		}
		u, upgrade, err := parseAptInst(rest)
		if err != nil {
			return nil, fmt.Errorf("apt-get output line %d %q: %w", n, line, err)
		}
		if upgrade {
			us = append(us, u)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apt-get output: %w", err)
	}
	return us, nil
}

func parseAptInst(s string) (u Update, upgrade bool, err error) {
	name, rest, _ := strings.Cut(s, " ")
	// A foreign-architecture package is printed NAME:ARCH; the arch is
	// read from the candidate below.
	name, _, _ = strings.Cut(name, ":")
	if !ValidName(name) {
		return Update{}, false, fmt.Errorf("invalid package name %q", name)
	}
	u.Name = name
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Update{}, false, fmt.Errorf("unterminated installed version")
		}
		upgrade = true
		rest = strings.TrimLeft(rest[end+1:], " ")
	}
	if !strings.HasPrefix(rest, "(") {
		return Update{}, false, fmt.Errorf("no candidate version")
	}
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return Update{}, false, fmt.Errorf("unterminated candidate version")
	}
	fields := strings.Fields(rest[1:end])
	if len(fields) == 0 || !ValidVersion(fields[0]) {
		return Update{}, false, fmt.Errorf("invalid candidate version")
	}
	u.Version, fields = fields[0], fields[1:]
	// apt always ends the candidate with the package's "[ARCH]".
	n := len(fields)
	if n == 0 || !strings.HasPrefix(fields[n-1], "[") || !strings.HasSuffix(fields[n-1], "]") {
		return Update{}, false, fmt.Errorf("no architecture")
	}
	u.Arch = strings.TrimSuffix(strings.TrimPrefix(fields[n-1], "["), "]")
	if !validArch(u.Arch) {
		return Update{}, false, fmt.Errorf("invalid architecture %q", u.Arch)
	}
	u.Repo = strings.Join(fields[:n-1], " ")
	return u, upgrade, nil
}
