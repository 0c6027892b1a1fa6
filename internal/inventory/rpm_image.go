package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// The rpm binary reads an image's database with the host's kernel
// resolving paths, so a link inside the image (var/lib/rpm/rpmdb.sqlite ->
// /somewhere/else) would make it read a database outside the image. For an
// image root the database is therefore copied out through os.Root, which
// refuses every path leaving the root, and rpm reads the copy.

// rpmDBDirs are where images keep their rpm database, in the order looked
// at, and rpmDBFiles the files that say a database is there (Berkeley DB,
// ndb, sqlite).
var (
	rpmDBDirs  = []string{"var/lib/rpm", "usr/lib/sysimage/rpm"}
	rpmDBFiles = []string{"Packages", "Packages.db", "rpmdb.sqlite"}
)

// maxRPMDatabaseBytes bounds the copy of an image's rpm database; real
// ones are tens to a few hundred megabytes.
const maxRPMDatabaseBytes = 2 << 30

// errLeavesRoot is the refusal of a link that leaves the image root.
func errLeavesRoot(root, rel string, err error) error {
	return fmt.Errorf("%s under %s is a symbolic link that leaves the image root (%v); refusing to read it: make the link relative and inside the image", rel, root, err)
}

// findImageRPMDatabase returns the directory (relative to the root) of the
// image's rpm database, "" when it has none. A database directory or file
// that is a link leaving the root is an error.
func findImageRPMDatabase(fsys *os.Root, root string) (string, error) {
	for _, dir := range rpmDBDirs {
		if err := refuseEscape(fsys, root, dir); err != nil {
			return "", err
		}
		for _, f := range rpmDBFiles {
			rel := path.Join(dir, f)
			if _, err := fsys.Lstat(rel); err == nil {
				if err := refuseEscape(fsys, root, rel); err != nil {
					return "", err
				}
				return dir, nil
			}
		}
		if dir == "usr/lib/sysimage/rpm" {
			if fi, err := fsys.Stat(dir); err == nil && fi.IsDir() {
				return dir, nil
			}
		}
	}
	return "", nil
}

// refuseEscape returns an error when rel, or a directory on the way to it,
// is a link that cannot be followed inside the root. A missing path is
// not an error.
func refuseEscape(fsys *os.Root, root, rel string) error {
	fi, err := fsys.Lstat(rel)
	if err != nil {
		if missing(err) {
			return nil
		}
		return errLeavesRoot(root, rel, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	if _, err := fsys.Stat(rel); err != nil && !missing(err) {
		return errLeavesRoot(root, rel, err)
	}
	return nil
}

func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// queryImageRPM lists the packages of the rpm database in dir under the
// image root: it copies the database out and runs rpm on the copy.
func queryImageRPM(ctx context.Context, runner Runner, fsys *os.Root, root, dir string) ([]Package, []string, error) {
	tmp, err := os.MkdirTemp("", "patchbay-rpmdb-")
	if err != nil {
		return nil, nil, fmt.Errorf("copy rpm database: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := copyRPMDatabase(fsys, root, dir, tmp); err != nil {
		return nil, nil, err
	}
	out, err := runner.Output(ctx, "rpm", "--dbpath", tmp, "-qa", "--qf", rpmQueryFormat)
	if err != nil {
		return nil, nil, fmt.Errorf("query rpm database of %s: %w", filepath.Join(root, dir), err)
	}
	return ParseRPMQuery(out, "rpm -qa")
}

// copyRPMDatabase copies the regular files of dir under the root into
// dst, following links only inside the root and refusing the others. Lock
// and environment files (.rpm.lock, __db.*) and SQLite's -shm are left:
// rpm makes its own.
func copyRPMDatabase(fsys *os.Root, root, dir, dst string) error {
	d, err := fsys.Open(dir)
	if err != nil {
		return fmt.Errorf("open rpm database %s: %w", filepath.Join(root, dir), err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list rpm database %s: %w", filepath.Join(root, dir), err)
	}
	var budget int64 = maxRPMDatabaseBytes
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "__db.") || strings.HasSuffix(name, "-shm") {
			continue
		}
		rel := path.Join(dir, name)
		if e.Type()&fs.ModeSymlink != 0 {
			if err := refuseEscape(fsys, root, rel); err != nil {
				return err
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		n, err := copyFromRoot(fsys, rel, filepath.Join(dst, name), budget)
		if err != nil {
			return fmt.Errorf("copy rpm database file %s: %w", filepath.Join(root, rel), err)
		}
		budget -= n
	}
	return nil
}

// copyFromRoot copies the regular file rel (a link is followed inside the
// root only) to dst, at most limit bytes. A dangling link copies nothing.
func copyFromRoot(fsys *os.Root, rel, dst string, limit int64) (int64, error) {
	src, err := fsys.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, nil
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(src, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("the rpm database is larger than %d bytes", int64(maxRPMDatabaseBytes))
	}
	return n, err
}
