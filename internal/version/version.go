package version

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Ecosystem names a version ordering scheme.
type Ecosystem string

const (
	// Dpkg orders Debian and Ubuntu versions ([epoch:]upstream[-revision]),
	// as dpkg --compare-versions does.
	Dpkg Ecosystem = "dpkg"
	// RPM orders rpm EVRs ([epoch:]version[-release]) as rpmvercmp does. A
	// missing epoch is 0, the convention of the OSV AlmaLinux and Rocky
	// Linux feeds, whose "fixed" events read "0:1.2.3-4.el9" or "1.2.3-4.el9".
	RPM Ecosystem = "rpm"
	// Apk orders Alpine versions (1.2.3_rc1-r0) as apk-tools does.
	Apk Ecosystem = "apk"
	// Generic is a fallback for feeds whose ecosystem has no scheme of its
	// own: runs of ASCII digits compare as numbers, everything else compares
	// byte by byte, so "1.10" > "1.9". It is a guess, not a package manager's
	// rule; callers should prefer a real ecosystem.
	Generic Ecosystem = "generic"
)

// MaxLen is the longest version string accepted, in bytes. Real versions are
// well below 200 bytes; the limit keeps hostile feed records cheap to reject.
const MaxLen = 512

// maxDigits bounds a run of significant digits for the schemes whose libraries
// convert digit runs to machine integers (dpkg, apk); longer runs would
// overflow and be ordered wrongly.
const maxDigits = 18

// ErrInvalid is wrapped by every error reporting an unparsable version.
var ErrInvalid = errors.New("invalid version")

// InvalidError reports a version that the ecosystem cannot order.
type InvalidError struct {
	Ecosystem Ecosystem
	Version   string
	Reason    string
}

func (e *InvalidError) Error() string {
	v := e.Version
	if len(v) > 80 {
		v = v[:80] + "..."
	}
	return fmt.Sprintf("invalid %s version %q: %s", e.Ecosystem, v, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Compare returns -1 if a is older than b, 0 if they are the same version and
// +1 if a is newer, under the ordering of eco. It returns an *InvalidError
// naming the first version that eco cannot parse, and an error for an
// unknown ecosystem.
func Compare(eco Ecosystem, a, b string) (int, error) {
	if err := check(eco, a); err != nil {
		return 0, err
	}
	if err := check(eco, b); err != nil {
		return 0, err
	}
	var c int
	switch eco {
	case Dpkg:
		c = compareDpkg(a, b)
	case RPM:
		c = compareRPM(a, b)
	case Apk:
		c = compareApk(a, b)
	case Generic:
		c = compareGeneric(a, b)
	}
	return sign(c), nil
}

// Valid reports whether v is a version that eco can order.
func Valid(eco Ecosystem, v string) bool {
	return check(eco, v) == nil
}

// Known reports whether eco is one of the ecosystems this package orders.
func Known(eco Ecosystem) bool {
	switch eco {
	case Dpkg, RPM, Apk, Generic:
		return true
	}
	return false
}

func check(eco Ecosystem, v string) error {
	invalid := func(reason string) error {
		return &InvalidError{Ecosystem: eco, Version: v, Reason: reason}
	}
	if !Known(eco) {
		return fmt.Errorf("unknown version ecosystem %q (want dpkg, rpm, apk or generic)", string(eco))
	}
	if v == "" {
		return invalid("empty")
	}
	if len(v) > MaxLen {
		return invalid(fmt.Sprintf("longer than %d bytes", MaxLen))
	}
	if !utf8.ValidString(v) {
		return invalid("not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return invalid("contains white space or a control character")
		}
	}
	var reason string
	switch eco {
	case Dpkg:
		reason = checkDpkg(v)
	case RPM:
		reason = checkRPM(v)
	case Apk:
		reason = checkApk(v)
	}
	if reason != "" {
		return invalid(reason)
	}
	return nil
}

// longDigitRun reports whether v has a run of ASCII digits with more than
// maxDigits significant digits.
func longDigitRun(v string) bool {
	n, leading := 0, true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			if c == '0' && leading {
				continue
			}
			leading = false
			n++
			if n > maxDigits {
				return true
			}
		default:
			n, leading = 0, true
		}
	}
	return false
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}
