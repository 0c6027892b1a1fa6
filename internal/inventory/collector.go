package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// maxProblems bounds Snapshot.Problems so one corrupt database cannot
// flood a check-in.
const maxProblems = 200

// Collector reads a Snapshot from the filesystem tree at Root.
//
// Root "/" (or "") is the live host: its kernel, machine, addresses and
// uptime are read too, and the running kernel is compared with the
// installed ones. Any other Root is a mounted image; facts that belong to
// a running system are then derived from the image or left zero (see
// Collect).
//
// Files are opened through os.Root, so nothing outside Root is read; an
// image's rpm database is copied out through it and rpm reads the copy. An
// absolute symbolic link inside an image (var/run -> /run) would point at
// the host's file and is treated as missing; run/ is checked as well as
// var/run/ for that reason. A package database (dpkg status or status.d,
// apk installed, the rpm database) behind a link leaving the image is an
// error, not an image without packages.
type Collector struct {
	Root   string
	Runner Runner // runs rpm, needrestart and needs-restarting; nil means ExecRunner
	// Now is the clock; Collect reads it only to age RestartCache entries.
	// nil means time.Now.
	Now func() time.Time
	// RestartCache, when set, lets Collect reuse the last restart detection
	// (see RestartCache); nil detects at every Collect.
	RestartCache *RestartCache

	// uname and lookPath stand in for the live system in tests; nil means
	// the real ones.
	uname    func() (release, machine string, err error)
	lookPath func(file string) (string, error)
	// fresh makes Collect detect restarts even when RestartCache holds a
	// current result (CollectFresh).
	fresh bool
}

// CollectFresh is Collect without reusing a cached restart detection: for
// a job that acts on what needs a restart now.
func (c Collector) CollectFresh(ctx context.Context) (Snapshot, error) {
	c.fresh = true
	return c.Collect(ctx)
}

func (c Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Collect reads os-release, the package database, host facts, whether a
// reboot is required and, on a live host, which services need a restart
// (needrestart -b on dpkg hosts, needs-restarting -s on rpm hosts, when
// installed).
//
// Malformed records and missing optional files are reported in
// Snapshot.Problems (at most 200). Collect returns an error when Root
// cannot be opened or when a package database exists but cannot be read
// (including rpm failing), because a snapshot with a silently empty package
// list would read as "every package was removed".
//
// Packages come from the first database found: var/lib/dpkg/status and
// var/lib/dpkg/status.d/ (dpkg, both merged), lib/apk/db/installed (apk),
// var/lib/rpm/{Packages,Packages.db,rpmdb.sqlite} or usr/lib/sysimage/rpm
// (rpm, read with `rpm --root`). They are sorted by Name, then Arch, then
// Version. With none found, PackageFormat is "" and a problem says so.
//
// For an image root: Hostname is etc/hostname; Kernel is the newest
// installed kernel (for rpm the kernel package with the highest version,
// as "V-R.ARCH" like uname -r prints it, otherwise the newest directory
// under lib/modules or usr/lib/modules) or "" when there is none; Arch is
// the architecture most of the packages are built for, in uname's words
// (dpkg "amd64" becomes "x86_64"); Addresses and Uptime stay zero, and only
// reboot-required flags, not the running kernel, decide RebootRequired.
func (c Collector) Collect(ctx context.Context) (Snapshot, error) {
	root := c.Root
	if root == "" {
		root = "/"
	}
	root = filepath.Clean(root)
	live := root == "/"
	if c.Runner == nil {
		c.Runner = ExecRunner{}
	}
	if c.uname == nil {
		c.uname = uname
	}
	if c.lookPath == nil {
		c.lookPath = execLookPath
	}

	fsys, err := os.OpenRoot(root)
	if err != nil {
		return Snapshot{}, fmt.Errorf("open root: %w", err)
	}
	defer fsys.Close()
	col := &collection{c: c, ctx: ctx, root: root, fsys: fsys, live: live}

	col.snap.Facts.OS = col.readOSRelease()
	if err := col.readPackages(); err != nil {
		return Snapshot{}, err
	}
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	col.readHostFacts()
	col.readRebootRequired()
	col.readRestarts()
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}

	snap := col.snap
	sortPackages(snap.Packages)
	snap.Problems = boundProblems(snap.Problems)
	return snap, nil
}

// collection is the state of one Collect call.
type collection struct {
	c    Collector
	ctx  context.Context
	root string
	fsys *os.Root
	live bool
	snap Snapshot
}

func (col *collection) problem(format string, args ...any) {
	col.snap.Problems = append(col.snap.Problems, fmt.Sprintf(format, args...))
}

// origin names a file under the root in problems.
func (col *collection) origin(rel string) string { return filepath.Join(col.root, rel) }

// exists reports whether rel exists under the root. Paths that escape the
// root count as missing.
func (col *collection) exists(rel string) bool {
	_, err := col.fsys.Stat(rel)
	return err == nil
}

func (col *collection) readOSRelease() OS {
	for _, rel := range osReleasePaths {
		f, err := col.fsys.Open(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			col.problem("%s: %v", col.origin(rel), err)
			continue
		}
		osr, err := ParseOSRelease(f)
		f.Close()
		if err != nil {
			col.problem("%s: %v", col.origin(rel), err)
		}
		return osr
	}
	col.problem("no os-release found under %s (looked for %s)", col.root, strings.Join(osReleasePaths, ", "))
	return OS{}
}

const (
	dpkgStatus  = "var/lib/dpkg/status"
	dpkgStatusD = "var/lib/dpkg/status.d"
	apkDB       = "lib/apk/db/installed"
)

var rpmDBPaths = []string{"var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm"}

func (col *collection) readPackages() error {
	var (
		format   Format
		pkgs     []Package
		problems []string
		err      error
	)
	// An image's rpm database is found through os.Root and copied out
	// (queryImageRPM); the live host's is read in place.
	var rpmDir string
	var rpmErr error
	if !col.live {
		// A database behind a link leaving the image is refused, not
		// taken for an image without packages.
		for _, rel := range []string{dpkgStatus, dpkgStatusD, apkDB} {
			if err := refuseEscape(col.fsys, col.root, rel); err != nil {
				return fmt.Errorf("read packages: %w", err)
			}
		}
		rpmDir, rpmErr = findImageRPMDatabase(col.fsys, col.root)
	}
	switch {
	case col.exists(dpkgStatus) || col.exists(dpkgStatusD):
		format = FormatDpkg
		pkgs, problems, err = col.readDpkg()
	case col.exists(apkDB):
		format = FormatApk
		pkgs, problems, err = col.readFile(apkDB, ParseApkInstalled)
	case rpmErr != nil:
		format, err = FormatRPM, rpmErr
	case rpmDir != "":
		format = FormatRPM
		pkgs, problems, err = queryImageRPM(col.ctx, col.c.Runner, col.fsys, col.root, rpmDir)
	case col.live && slices.ContainsFunc(rpmDBPaths, col.exists):
		format = FormatRPM
		pkgs, problems, err = queryRPM(col.ctx, col.c.Runner, col.root)
	default:
		col.problem("no package database found under %s", col.root)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s packages: %w", format, err)
	}
	col.snap.Facts.PackageFormat = format
	col.snap.Packages = pkgs
	col.snap.Problems = append(col.snap.Problems, problems...)
	return nil
}

func (col *collection) readFile(rel string, parse func(r io.Reader, origin string) ([]Package, []string, error)) ([]Package, []string, error) {
	f, err := col.fsys.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return parse(f, col.origin(rel))
}

// readDpkg reads the status file and every file in status.d (distroless
// images keep one file per package there; *.md5sums files are skipped).
func (col *collection) readDpkg() ([]Package, []string, error) {
	var pkgs []Package
	var problems []string
	if col.exists(dpkgStatus) {
		p, pr, err := col.readFile(dpkgStatus, ParseDpkgStatus)
		if err != nil {
			return nil, nil, err
		}
		pkgs, problems = append(pkgs, p...), append(problems, pr...)
	}
	if !col.exists(dpkgStatusD) {
		return pkgs, problems, nil
	}
	dir, err := col.fsys.Open(dpkgStatusD)
	if err != nil {
		return nil, nil, err
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", col.origin(dpkgStatusD), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md5sums") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := path.Join(dpkgStatusD, e.Name())
		p, pr, err := col.readFile(rel, func(r io.Reader, origin string) ([]Package, []string, error) {
			return parseDpkg(r, origin, true)
		})
		if err != nil {
			return nil, nil, err
		}
		pkgs, problems = append(pkgs, p...), append(problems, pr...)
	}
	return pkgs, problems, nil
}

func sortPackages(pkgs []Package) {
	slices.SortStableFunc(pkgs, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
	})
}

// boundProblems keeps at most maxProblems, the last one saying how many
// were left out.
func boundProblems(problems []string) []string {
	if len(problems) <= maxProblems {
		return problems
	}
	dropped := len(problems) - (maxProblems - 1)
	return append(problems[:maxProblems-1:maxProblems-1], fmt.Sprintf("%d more problems not shown", dropped))
}
