package version

import (
	"regexp"
	"strings"

	apkversion "github.com/knqyf263/go-apk-version"
)

// apkGrammar is the version format of apk-package(5), which abuild enforces
// for every package Alpine builds:
// number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}.
var apkGrammar = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]*)?$`)

var apkHash = regexp.MustCompile(`~[0-9a-f]+`)

// apkZeroQuirk finds a later component made only of zeros followed by a
// letter or suffix ("1.0_alpha", "2.00a"). The library, like apk-tools 2.x,
// then loses track of the token type and orders "1.0_alpha" after "1.0",
// which would hide a pre-release from a fix; such versions go to the loose
// rules, which order them as apk-package(5) says (and apk-tools 3 does).
var apkZeroQuirk = regexp.MustCompile(`\.0+[a-z_]`)

// checkApk returns why v is not an apk version, or "". Like `apk version -t`,
// this package orders malformed apk versions instead of refusing them (feeds
// and the OSV reference data contain some), so only non-ASCII input fails.
func checkApk(v string) string {
	if !isASCII(v) {
		return "contains non-ASCII characters"
	}
	return ""
}

// compareApk orders two apk versions.
//
// Versions in the apk-package(5) grammar are ordered by go-apk-version, a port
// of apk-tools' version.c, after removing a ~hash (which apk ignores when
// ordering and the library does not parse). Everything else, and numbers too
// long for the library's int arithmetic, goes to compareApkLoose: apk-tools
// 2.x and 3.x order malformed versions differently, and the library follows
// 2.x, which disagrees with the OSV reference data (testdata/alpine-versions.txt,
// e.g. "1-r-0 < 1-r0" and "0.r1 < 0r2"). The loose rules reproduce that
// reference, which is also how osv.dev matches Alpine advisories.
func compareApk(a, b string) int {
	if libraryApk(a) && libraryApk(b) {
		a, b = apkHash.ReplaceAllString(a, ""), apkHash.ReplaceAllString(b, "")
		return apkversion.Version(a).Compare(apkversion.Version(b))
	}
	return compareApkLoose(a, b)
}

// libraryApk reports whether go-apk-version orders v as intended.
func libraryApk(v string) bool {
	return apkGrammar.MatchString(v) && !longDigitRun(v) && !apkZeroQuirk.MatchString(v)
}

// apkParts is an apk version taken apart leniently.
type apkParts struct {
	numbers   []string // dot-separated leading numbers
	letter    byte     // 0 if none
	suffixes  []apkSuffix
	build     string // digits after -r
	hasBuild  bool   // there is a -r part
	remainder string // what could not be parsed
	malformed bool   // the remainder is not a (bad) -r build part
}

type apkSuffix struct {
	weight int // order of alpha, beta, pre, rc, (none), cvs, svn, git, hg, p
	number string
}

var apkSuffixNames = []string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

const apkNoSuffix = 4

func parseApkLoose(s string) apkParts {
	var p apkParts
	// numbers: digits{.digits}
	for {
		d, rest := splitRun(s, isDigit)
		if d == "" {
			break
		}
		p.numbers = append(p.numbers, d)
		s = rest
		if len(s) < 2 || s[0] != '.' || !isDigit(s[1]) {
			break
		}
		s = s[1:]
	}
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		p.letter, s = s[0], s[1:]
	}
	for strings.HasPrefix(s, "_") {
		w := -1
		for i, name := range apkSuffixNames {
			// Longest names first would matter only for prefixes of one
			// another; none of these are ("p" is tried last).
			if name != "" && strings.HasPrefix(s[1:], name) {
				w, s = i, s[1+len(name):]
				break
			}
		}
		if w < 0 {
			break
		}
		var n string
		n, s = splitRun(s, isDigit)
		p.suffixes = append(p.suffixes, apkSuffix{w, n})
	}
	if m := apkHash.FindStringIndex(s); m != nil && m[0] == 0 {
		s = s[m[1]:]
	}
	if strings.HasPrefix(s, "-r") {
		p.hasBuild = true
		p.build, s = splitRun(s[2:], isDigit)
	} else if s != "" {
		p.malformed = true
	}
	p.remainder = s
	return p
}

// compareApkLoose orders versions of which at least one is outside the apk
// grammar. Two malformed versions compare as plain strings; otherwise the
// parts compare in order: numbers, letter, suffixes, build number; then a
// version with an unparsed remainder is older than one without, and
// otherwise one without a -r part older than one with.
func compareApkLoose(a, b string) int {
	pa, pb := parseApkLoose(a), parseApkLoose(b)
	if pa.malformed && pb.malformed {
		return strings.Compare(a, b)
	}
	for i := 0; i < max(len(pa.numbers), len(pb.numbers)); i++ {
		if i >= len(pa.numbers) {
			if i == 0 {
				return compareDigits("", strings.TrimLeft(pb.numbers[i], "0"))
			}
			return -1
		}
		if i >= len(pb.numbers) {
			if i == 0 {
				return compareDigits(strings.TrimLeft(pa.numbers[i], "0"), "")
			}
			return 1
		}
		x, y := pa.numbers[i], pb.numbers[i]
		// As in apk-tools, leading zeros of a later component count as a
		// negative number, -1 per zero, before the digits that follow:
		// 1.001 < 1.01 < 1.1 and 1.00 < 1.0.
		if i > 0 {
			zx, zy := len(x)-len(strings.TrimLeft(x, "0")), len(y)-len(strings.TrimLeft(y, "0"))
			if zx != zy {
				return zy - zx
			}
		}
		if c := compareDigits(strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")); c != 0 {
			return c
		}
	}
	if pa.letter != pb.letter {
		return int(pa.letter) - int(pb.letter)
	}
	for i := 0; i < max(len(pa.suffixes), len(pb.suffixes)); i++ {
		x, y := apkSuffix{weight: apkNoSuffix}, apkSuffix{weight: apkNoSuffix}
		if i < len(pa.suffixes) {
			x = pa.suffixes[i]
		}
		if i < len(pb.suffixes) {
			y = pb.suffixes[i]
		}
		if x.weight != y.weight {
			return x.weight - y.weight
		}
		if c := compareDigits(strings.TrimLeft(x.number, "0"), strings.TrimLeft(y.number, "0")); c != 0 {
			return c
		}
	}
	if c := compareDigits(strings.TrimLeft(pa.build, "0"), strings.TrimLeft(pb.build, "0")); c != 0 {
		return c
	}
	switch {
	case pa.remainder == "" && pb.remainder != "":
		return 1
	case pa.remainder != "" && pb.remainder == "":
		return -1
	}
	// Like apk-tools, a well-formed version with a -r part is newer than
	// one without ("1-r0" > "1").
	switch {
	case pa.remainder != "" || pb.remainder != "":
	case pa.hasBuild && !pb.hasBuild:
		return 1
	case !pa.hasBuild && pb.hasBuild:
		return -1
	}
	return 0
}
