package pkgmgr

import (
	"errors"
	"fmt"
)

// ErrInvalidTarget reports a package name, version or architecture that
// may not be passed to a package manager.
var ErrInvalidTarget = errors.New("invalid package target")

const maxFieldLen = 255

// ValidName reports whether s is a package name safe to pass as an
// argument to any package manager: [A-Za-z0-9][A-Za-z0-9+._-]*, at most 255
// bytes. It never starts with '-', so it cannot be read as an option.
func ValidName(s string) bool {
	return validToken(s, func(c byte) bool {
		return isAlnum(c) || c == '+' || c == '.' || c == '_' || c == '-'
	})
}

// ValidVersion reports whether s is a version safe to pass as an argument:
// characters from [0-9A-Za-z.+~:_-], starting with a letter or digit, at
// most 255 bytes. This covers dpkg ("1:2.3~rc1-4+deb12u1"), rpm
// ("1:2.3-4.el9_4") and apk ("2.3_p1-r4") versions.
func ValidVersion(s string) bool {
	return validToken(s, func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '+' || c == '~' || c == ':' || c == '_' || c == '-'
	})
}

// validArch accepts architecture names such as amd64, x86_64, all, noarch.
func validArch(s string) bool {
	return validToken(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' })
}

func validToken(s string, ok func(byte) bool) bool {
	if s == "" || len(s) > maxFieldLen || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// validateTargets checks every field of every target before any of them
// reaches argv.
func validateTargets(targets []Target) error {
	if len(targets) == 0 {
		return fmt.Errorf("%w: no packages given", ErrInvalidTarget)
	}
	for i, t := range targets {
		if !ValidName(t.Name) {
			return fmt.Errorf("%w: package %d: name %q is not a valid package name", ErrInvalidTarget, i, t.Name)
		}
		if !ValidVersion(t.Version) {
			return fmt.Errorf("%w: package %s: version %q is not a valid version", ErrInvalidTarget, t.Name, t.Version)
		}
		if t.Arch != "" && !validArch(t.Arch) {
			return fmt.Errorf("%w: package %s: architecture %q is not a valid architecture", ErrInvalidTarget, t.Name, t.Arch)
		}
	}
	return nil
}
