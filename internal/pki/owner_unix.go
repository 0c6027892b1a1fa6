//go:build unix

package pki

import (
	"io/fs"
	"syscall"
)

// FileOwner returns the uid that owns the file fi describes.
func FileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
