package version

import "strings"

// compareGeneric compares runs of ASCII digits numerically (ignoring leading
// zeros), a digit as newer than any other byte at the same position, and
// other bytes by value; a version that is a prefix of another is older.
func compareGeneric(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := splitRun(a, isDigit)
			nb, rb := splitRun(b, isDigit)
			if c := compareDigits(strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")); c != 0 {
				return c
			}
			a, b = ra, rb
		case da:
			return 1
		case db:
			return -1
		default:
			if a[0] != b[0] {
				return int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
		}
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitRun(s string, in func(byte) bool) (run, rest string) {
	i := 0
	for i < len(s) && in(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
