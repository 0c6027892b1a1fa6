package advisory

import (
	"strings"

	"github.com/patchbay/patchbay/internal/version"
)

// Distro is a distribution release parsed from an OSV ecosystem string.
type Distro struct {
	ID      string // "ubuntu", "debian", "almalinux", "rocky", "alpine", "rhel"
	Release string // "22.04", "12", "9", "3.19"
	Variant string // "LTS", "Pro", "Pro:FIPS" ... for Ubuntu; "" otherwise
	Format  version.Ecosystem
}

// ParseEcosystem parses an OSV ecosystem string such as "Ubuntu:22.04:LTS",
// "Ubuntu:Pro:18.04:LTS", "Debian:12", "AlmaLinux:9", "Rocky Linux:9" or
// "Alpine:v3.19". It reports false for an ecosystem that is not a Linux
// distribution release this package knows how to order.
func ParseEcosystem(s string) (Distro, bool) {
	name, rest, _ := strings.Cut(s, ":")
	switch name {
	case "Ubuntu":
		return parseUbuntu(rest)
	case "Debian":
		return simpleRelease("debian", rest, version.Dpkg)
	case "AlmaLinux":
		return simpleRelease("almalinux", rest, version.RPM)
	case "Rocky Linux":
		return simpleRelease("rocky", rest, version.RPM)
	case "Red Hat":
		// "Red Hat:enterprise_linux:9::appstream": the release is the
		// first all-numeric field.
		for _, f := range strings.Split(rest, ":") {
			if f != "" && isRelease(f) {
				return Distro{ID: "rhel", Release: f, Format: version.RPM}, true
			}
		}
		return Distro{}, false
	case "Alpine":
		r, ok := strings.CutPrefix(rest, "v")
		if !ok {
			return Distro{}, false
		}
		return simpleRelease("alpine", r, version.Apk)
	}
	return Distro{}, false
}

func simpleRelease(id, release string, format version.Ecosystem) (Distro, bool) {
	if !isRelease(release) {
		return Distro{}, false
	}
	return Distro{ID: id, Release: release, Format: format}, true
}

// parseUbuntu parses what follows "Ubuntu:": "22.04:LTS", "24.10",
// "Pro:18.04:LTS", "Pro:FIPS-updates:22.04:LTS".
func parseUbuntu(rest string) (Distro, bool) {
	d := Distro{ID: "ubuntu", Format: version.Dpkg}
	var variant []string
	lts := false
	for _, f := range strings.Split(rest, ":") {
		switch {
		case d.Release == "" && isRelease(f) && strings.Contains(f, "."):
			d.Release = f
		case f == "LTS" && d.Release != "":
			lts = true
		case d.Release == "" && f != "":
			variant = append(variant, f)
		default:
			return Distro{}, false
		}
	}
	if d.Release == "" {
		return Distro{}, false
	}
	d.Variant = strings.Join(variant, ":")
	if d.Variant == "" && lts {
		d.Variant = "LTS"
	}
	return d, true
}

// isRelease reports whether s looks like a release number: digits and dots.
func isRelease(s string) bool {
	if s == "" || len(s) > 16 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}
