package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Whoever can write the server's data directory (or the agent's state
// directory), or a key file in it, can plant the CA, the server
// certificate or the job-signing key that agents pin (or the key an agent
// verifies jobs with). Both therefore use only a directory and files that
// are their own user's and that nobody else can change, and private keys
// nobody else can read.

// CheckPrivateDir refuses a directory not owned by this process's user,
// or writable by group or others. what names it in errors ("data
// directory").
func CheckPrivateDir(dir, what string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if uid, ok := FileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s %s is owned by uid %d, not by this process's user (uid %d): whoever owns it can plant the keys trusted from it; run `chown %d %s`, or use another directory",
			what, dir, uid, os.Geteuid(), os.Geteuid(), dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s %s is writable by group or others (mode %v): they could plant the keys trusted from it; run `chmod go-w %s`",
			what, dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckOwnFile refuses a file this process's user did not write: a
// symbolic link, not a regular file, owned by another user, writable by
// group or others, or, when private, readable by them. A missing file is
// fine (the caller creates it).
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
		return fmt.Errorf("%s is a symbolic link: only files written there by this process's user are used; replace the link with the file it points to", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	}
	if uid, ok := FileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this process's user (uid %d): it may have been planted; remove it or restore the real one, then `chown %d %s`",
			path, uid, os.Geteuid(), os.Geteuid(), path)
	}
	if private && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is open to group or others (mode %v): a private key must be readable only by its owner; run `chmod 600 %s` and consider the key exposed",
			path, fi.Mode().Perm(), path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %v); run `chmod go-w %s`", path, fi.Mode().Perm(), path)
	}
	return nil
}
