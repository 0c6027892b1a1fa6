// Package inventory reads a host's facts and installed packages from a
// filesystem root: the dpkg status database (and status.d), the rpm
// database, the apk installed database, os-release and the markers that
// say a reboot is required.
//
// It never changes the root it reads. A malformed record is reported as a
// problem naming the file and line and skipped; the other packages are
// still returned.
package inventory
