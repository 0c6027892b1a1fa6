//go:build !unix

package pki

import "io/fs"

// FileOwner reports no owner where files have no uid.
func FileOwner(fs.FileInfo) (int, bool) { return 0, false }
