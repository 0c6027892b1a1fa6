// Package pkgmgr drives the host's package manager — apt, dnf (or yum) and
// apk — to list available updates and to install exact package versions,
// upgrading or downgrading (rollback).
//
// It is not an inventory reader (see package inventory) and it never adds
// package sources or refreshes the host's package lists: the host's own
// schedule does that.
//
// Invariant: commands run as argv through a Runner, never through a shell,
// and every package name, version and architecture is validated (see
// ValidName and ValidVersion) before it reaches argv, so nothing the server
// sends can become an option or a shell word.
package pkgmgr
