package server

import (
	"path/filepath"

	"github.com/patchbay/patchbay/internal/pki"
)

// dataDirFiles are the files of the data directory the server reads back,
// and whether each is private.
var dataDirFiles = []struct {
	name    string
	private bool
}{
	{"ca.crt", false}, {"ca.key", true}, {"server.crt", false}, {"server.key", true}, {"job.key", true},
}

// checkDataDir refuses a data directory whose keys someone other than the
// server's user could have planted or read: the directory must be the
// server user's and not writable by group or others, and each key or
// certificate in it a regular file of the server's user, not writable by
// others (keys: not readable by them either).
func checkDataDir(dir string) error {
	if err := pki.CheckPrivateDir(dir, "data directory"); err != nil {
		return err
	}
	for _, f := range dataDirFiles {
		if err := pki.CheckOwnFile(filepath.Join(dir, f.name), f.private); err != nil {
			return err
		}
	}
	return nil
}
