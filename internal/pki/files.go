package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Whoever can write the server's data directory, or a key file in it, can
// plant the CA, the server certificate or the job-signing key that agents
// pin. The server therefore uses only a directory and files that are its
// own user's and that nobody else can change, and private keys nobody else
// can read.

// CheckPrivateDir refuses a directory not owned by this process's user,
// or writable by group or others.
func CheckPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if uid, ok := FileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("data directory %s is owned by uid %d, not by the server's user (uid %d): whoever owns it can plant the keys the server trusts; run `chown %d %s`, or use another --data-dir",
			dir, uid, os.Geteuid(), os.Geteuid(), dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("data directory %s is writable by group or others (mode %v): they could plant the keys the server trusts; run `chmod go-w %s`",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckOwnFile refuses a file the server did not write itself: a symbolic
// link, not a regular file, owned by another user, writable by group or
// others, or, when private, readable by them. A missing file is fine (the
// server creates it).
func CheckOwnFile(path string, private bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: the server uses only files it wrote itself in its data directory; replace the link with the file it points to", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	}
	if uid, ok := FileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by the server's user (uid %d): it may have been planted; remove it (the server creates a new one) or restore the server's own, then `chown %d %s`",
			path, uid, os.Geteuid(), os.Geteuid(), path)
	}
	if private && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is open to group or others (mode %v): a private key must be readable only by the server's user; run `chmod 600 %s` and consider the key exposed",
			path, fi.Mode().Perm(), path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %v); run `chmod go-w %s`", path, fi.Mode().Perm(), path)
	}
	return nil
}
