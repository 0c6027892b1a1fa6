package pkgmgr

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

func apkRootOptions(root string) []string {
	if root == "" {
		return nil
	}
	return []string{"--root", root}
}

// apkUpdates runs "apk version -l <" (installed packages older than the
// repositories' version) from the local index without refreshing it, and
// "apk --print-arch" because apk version does not print architectures.
func (m Manager) apkUpdates(ctx context.Context) ([]Update, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	opts := apkRootOptions(root)
	out, err := m.runner().Run(ctx, "apk", slices.Concat(opts, []string{"version", "-l", "<"})...)
	if err != nil {
		return nil, err
	}
	us, err := parseApkVersion(out)
	if err != nil {
		return nil, err
	}
	archOut, err := m.runner().Run(ctx, "apk", slices.Concat(opts, []string{"--print-arch"})...)
	if err != nil {
		return nil, err
	}
	if arch := strings.TrimSpace(string(archOut)); validArch(arch) {
		for i := range us {
			us[i].Arch = arch
		}
	}
	return us, nil
}

// apkInstall runs "apk add NAME=VERSION ...". apk records the constraint
// NAME=VERSION in /etc/apk/world, so the package stays at that version
// (also after a rollback) until a later install names another version.
func (m Manager) apkInstall(ctx context.Context, targets []Target, dryRun bool) ([]byte, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	args := append(apkRootOptions(root), "add")
	if dryRun {
		args = append(args, "--simulate")
	}
	args = append(args, "--")
	for _, t := range targets {
		args = append(args, t.Name+"="+t.Version)
	}
	return m.runner().Run(ctx, "apk", args...)
}

// parseApkVersion reads "apk version -l <" output:
//
//	Installed:                                Available:
//	busybox-1.36.1-r5                       < 1.36.1-r7
//
// Lines without the "<" relation (the header, warnings) are ignored; a
// "<" line whose installed name-version cannot be split is an error.
func parseApkVersion(out []byte) ([]Update, error) {
	var us []Update
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "<" {
			continue
		}
		name, _, ok := splitApkNameVersion(fields[0])
		if !ok || !ValidName(name) || !ValidVersion(fields[2]) {
			return nil, fmt.Errorf("apk output line %d %q: cannot read package and version", n, sc.Text())
		}
		us = append(us, Update{Name: name, Version: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apk output: %w", err)
	}
	return us, nil
}

// splitApkNameVersion splits "py3-foo-1.2.3-r4" into "py3-foo" and
// "1.2.3-r4". Names may contain dashes and even dashes followed by
// digits, but an apk version has no dash except the one before its
// "-rN" release, so the version begins at the last dash followed by a
// digit.
func splitApkNameVersion(s string) (name, version string, ok bool) {
	for i := len(s) - 2; i > 0; i-- {
		if s[i] == '-' && s[i+1] >= '0' && s[i+1] <= '9' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}
