package version

import (
	"strings"

	rpmversion "github.com/knqyf263/go-rpm-version"
)

// evr is an rpm version split the way rpm and the OSV rpm ecosystems split
// it: an all-digit epoch before the first ':', then version and release
// around the first '-' of the rest.
type evr struct {
	epoch      string // significant digits only; "" means 0
	rest       string // version[-release], epoch removed
	hasRelease bool
}

func parseEVR(v string) evr {
	var e evr
	epoch, rest, ok := strings.Cut(v, ":")
	if ok && epoch != "" && allDigits(epoch) {
		e.epoch = strings.TrimLeft(epoch, "0")
		e.rest = rest
	} else {
		// No epoch, or something before ':' that is not a number ("a:1"):
		// rpm then treats the whole string as version[-release] and the
		// ':' as a separator; the epoch is 0.
		e.rest = v
	}
	e.hasRelease = strings.Contains(e.rest, "-")
	return e
}

// checkRPM returns why v is not an rpm EVR, or "". rpmvercmp orders any
// string, so beyond the common checks only the split has to make sense.
func checkRPM(v string) string {
	return ""
}

// compareRPM orders two EVRs. The library is given every version with an
// explicit "0:" epoch prefix so that its own epoch parsing (strconv.Atoi,
// which turns "a" or a huge epoch into 0 and splits at any ':') never sees
// the original prefix; the epochs are compared here as digit strings, which
// cannot overflow.
func compareRPM(a, b string) int {
	ea, eb := parseEVR(a), parseEVR(b)
	if c := compareDigits(ea.epoch, eb.epoch); c != 0 {
		return c
	}
	va := rpmversion.NewVersion("0:" + ea.rest)
	vb := rpmversion.NewVersion("0:" + eb.rest)
	if c := va.Compare(vb); c != 0 {
		return c
	}
	// The library cannot tell "1" from "1-": both have an empty release.
	// rpm (and the OSV reference implementation) order a version without a
	// release before the same version with one, even an empty one.
	switch {
	case ea.hasRelease && !eb.hasRelease:
		return 1
	case !ea.hasRelease && eb.hasRelease:
		return -1
	}
	return 0
}

// compareDigits compares two runs of digits without leading zeros.
func compareDigits(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
