// Package version orders package versions the way each distribution's
// package manager does: dpkg (Debian, Ubuntu), rpm (AlmaLinux, Rocky Linux,
// RHEL) and apk (Alpine).
//
// It is the single place where Patchbay decides whether one version is older
// than another; matching advisories against installed packages depends on it.
// It is not a parser of package names, architectures or dependency ranges.
//
// The ordering itself comes from well-kept libraries (knqyf263/go-deb-version,
// go-rpm-version and go-apk-version). This package validates input first, so
// an unparsable or absurd version is reported as an error naming it instead
// of being ordered silently, and it adjusts the few corners where a library
// differs from the package manager (see rpm.go).
//
// Invariant: for every ecosystem, Compare is a total preorder on valid
// versions: Compare(a, b) == -Compare(b, a), and it never panics.
package version
