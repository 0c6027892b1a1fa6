package version

import (
	debversion "github.com/knqyf263/go-deb-version"
)

// checkDpkg returns why v is not a dpkg version, or "".
func checkDpkg(v string) string {
	// deb-version(5) allows only ASCII alphanumerics and a few symbols; the
	// library would accept any Unicode letter and then compare it byte by
	// byte, so non-ASCII input is refused here.
	if !isASCII(v) {
		return "contains non-ASCII characters"
	}
	if longDigitRun(v) {
		return "has a number too large to compare"
	}
	if _, err := debversion.NewVersion(v); err != nil {
		return err.Error()
	}
	return ""
}

func compareDpkg(a, b string) int {
	va, _ := debversion.NewVersion(a) // validated by check
	vb, _ := debversion.NewVersion(b)
	return va.Compare(vb)
}
