package change

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/version"
)

// Platform is the package universe a version belongs to: its package
// format, the distribution family that builds it and the family's release.
// "el" is the Enterprise Linux family (RHEL, CentOS, AlmaLinux, Rocky,
// Oracle Linux), whose rebuilds share versions such as 2.28-225.el8_8.6.
// An empty Release means any release of the family.
type Platform struct {
	Format  string `json:"format,omitempty"`  // "dpkg", "rpm", "apk"
	Family  string `json:"family,omitempty"`  // "el", "fedora", "amzn", "suse", "photon", "debian", "ubuntu", "alpine"
	Release string `json:"release,omitempty"` // "8", "35", "2", "15.1", "3", "12", "22.04", "3.19"
}

func (p Platform) String() string {
	s := p.Family
	if p.Release != "" {
		s += " " + p.Release
	}
	if p.Format != "" {
		s += " (" + p.Format + ")"
	}
	return s
}

// fits says whether a version built for p may be installed on a host of
// platform host: same format, same family, and the same release unless p
// names none. A host whose release is unknown fits no release-specific p.
func (p Platform) fits(host Platform) bool {
	if p.Format != "" && p.Format != host.Format {
		return false
	}
	if p.Family != "" && p.Family != host.Family {
		return false
	}
	return p.Release == "" || p.Release == host.Release
}

// familyFormat is the package format each family ships.
var familyFormat = map[string]string{
	"el": "rpm", "fedora": "rpm", "amzn": "rpm", "suse": "rpm", "photon": "rpm",
	"debian": "dpkg", "ubuntu": "dpkg", "alpine": "apk",
}

// HostPlatform is the platform of a host from its os-release ID, ID_LIKE
// and VERSION_ID and the package format it reported (which wins over the
// family's usual one).
func HostPlatform(osID string, idLike []string, versionID, format string) Platform {
	id := strings.ToLower(osID)
	major, _, _ := strings.Cut(versionID, ".")
	var p Platform
	switch id {
	case "rhel", "centos", "almalinux", "rocky", "ol", "oracle", "redhat":
		p = Platform{Family: "el", Release: major}
	case "fedora":
		p = Platform{Family: "fedora", Release: major}
	case "amzn":
		p = Platform{Family: "amzn", Release: major}
	case "opensuse-leap", "opensuse", "sles", "sled", "sles_sap":
		p = Platform{Family: "suse", Release: versionID}
	case "opensuse-tumbleweed":
		p = Platform{Family: "suse", Release: "tumbleweed"}
	case "photon":
		p = Platform{Family: "photon", Release: major}
	case "debian":
		p = Platform{Family: "debian", Release: major}
	case "ubuntu":
		p = Platform{Family: "ubuntu", Release: versionID}
	case "alpine":
		parts := strings.SplitN(versionID, ".", 3)
		if len(parts) >= 2 {
			p = Platform{Family: "alpine", Release: parts[0] + "." + parts[1]}
		} else {
			p = Platform{Family: "alpine"}
		}
	default:
		// A derivative: its family is the one it names as like, but its
		// release numbers are its own, so it fits only versions that
		// name no release.
		p = Platform{Family: id}
		for _, like := range idLike {
			switch strings.ToLower(like) {
			case "rhel", "centos":
				p.Family = "el"
			case "ubuntu":
				p.Family = "ubuntu"
			case "debian":
				if p.Family != "ubuntu" {
					p.Family = "debian"
				}
			}
			if p.Family != id {
				break
			}
		}
	}
	p.Format = format
	if p.Format == "" {
		p.Format = familyFormat[p.Family]
	}
	return p
}

// AdvisoryPlatform is the platform of an advisory's affected entry, from
// the distribution and release its ecosystem names ("AlmaLinux:8" →
// el 8, rpm).
func AdvisoryPlatform(distroID, release, format string) Platform {
	return HostPlatform(distroID, nil, release, format)
}

// Dist tags as the distributions write them in a version's release part.
var (
	// el8, el8_8, el8_8.6, module+el8.6.0+1234: Enterprise Linux 8.
	elTag = regexp.MustCompile(`(?:^|[.+_-])el(\d+)(?:[._+]|$)`)
	// fc35: Fedora 35.
	fcTag = regexp.MustCompile(`(?:^|[.+_-])fc(\d+)(?:[._+]|$)`)
	// amzn2, amzn2023: Amazon Linux 2, 2023.
	amznTag = regexp.MustCompile(`(?:^|[.+_-])amzn(\d+)(?:[._+]|$)`)
	// lp151: openSUSE Leap 15.1 (lp423: 42.3).
	lpTag = regexp.MustCompile(`(?:^|[.+_-])lp(\d\d)(\d+)(?:[._+]|$)`)
	// ph3: Photon OS 3.
	phTag = regexp.MustCompile(`(?:^|[.+_-])ph(\d+)(?:[._+]|$)`)
	// +deb10u1, +deb12u3: a Debian stable update.
	debTag = regexp.MustCompile(`\+deb(\d+)u\d+`)
	// 2.35-0ubuntu3.4, 1.2-3ubuntu0.1~22.04.1: Ubuntu, with its release
	// when a backport names it.
	ubuntuTag        = regexp.MustCompile(`\dubuntu\d`)
	ubuntuReleaseTag = regexp.MustCompile(`~(\d\d\.\d\d)(?:[.~+]|$)`)
)

// VersionPlatform is the platform a version's dist tag names, if it has
// one: 2.28-225.el8_8.6 is for Enterprise Linux 8, 2.34-25.fc35 for
// Fedora 35, 2.26-32.amzn2.0.1 for Amazon Linux 2. It reports false for a
// version without a tag it knows (most Debian and Alpine versions).
func VersionPlatform(v string) (Platform, bool) {
	// Only the release part (after the last "-") carries the tag in rpm
	// versions; a dpkg revision carries "ubuntu" and "+debN" there too.
	_, rel, ok := cutLast(v, "-")
	if !ok {
		return Platform{}, false
	}
	for _, t := range []struct {
		re     *regexp.Regexp
		family string
	}{{elTag, "el"}, {fcTag, "fedora"}, {amznTag, "amzn"}, {phTag, "photon"}} {
		if m := t.re.FindStringSubmatch(rel); m != nil {
			return Platform{Format: "rpm", Family: t.family, Release: m[1]}, true
		}
	}
	if m := lpTag.FindStringSubmatch(rel); m != nil {
		return Platform{Format: "rpm", Family: "suse", Release: m[1] + "." + m[2]}, true
	}
	if m := debTag.FindStringSubmatch(rel); m != nil {
		return Platform{Format: "dpkg", Family: "debian", Release: m[1]}, true
	}
	if ubuntuTag.MatchString(rel) {
		p := Platform{Format: "dpkg", Family: "ubuntu"}
		if m := ubuntuReleaseTag.FindStringSubmatch(rel); m != nil {
			p.Release = m[1]
		}
		return p, true
	}
	return Platform{}, false
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// knownArchs are the machine architectures (as uname reports them) and
// package architectures (as dpkg, rpm and apk name them) a plan accepts.
// Anything else, such as "amd64 --force-all", is hostile or broken data.
var knownArchs = map[string]bool{
	// uname -m
	"x86_64": true, "aarch64": true, "i686": true, "i586": true, "i386": true, "armv7l": true, "armv6l": true,
	"ppc64le": true, "ppc64": true, "s390x": true, "riscv64": true, "loongarch64": true, "mips64": true,
	// dpkg
	"amd64": true, "arm64": true, "armhf": true, "armel": true, "ppc64el": true, "mips64el": true, "mipsel": true,
	"loong64": true, "all": true,
	// rpm
	"noarch": true, "armv7hl": true, "armv7hnl": true,
	// apk
	"x86": true, "armv7": true,
}

// KnownArch reports whether a is an architecture a job may name.
func KnownArch(a string) bool { return knownArchs[a] }

// FitHost is what the fit of a version to a host depends on.
type FitHost struct {
	Arch     string   // machine architecture the host reported
	Platform Platform // from HostPlatform
}

// Candidate is one package version a change asks for on one host.
type Candidate struct {
	Name      string
	Arch      string // the installed package's architecture
	Installed string // the installed version
	Version   string // the version asked for: explicit, or an advisory's fixed version
	// Advisory names the advisory whose fix this is ("" for an explicit
	// version); Platforms are the platforms its affected entries name.
	// When there are some, the host must be on one of them.
	Advisory  string
	Platforms []Platform
	// Offered is the newest version the host's repositories offer for the
	// package, as the host last reported its available updates ("" for
	// none).
	Offered string
}

// FitOptions are the operator's explicit overrides.
type FitOptions struct {
	// AllowDowngrade plans a version lower than the installed one.
	AllowDowngrade bool
	// ForceNotOffered plans a version the host's repositories do not
	// offer (as far as the host reported). It never overrides a platform
	// or architecture that does not fit.
	ForceNotOffered bool
}

// Verdict says what a plan does with one candidate.
type Verdict string

const (
	// Planned: the version is dispatched to the host.
	Planned Verdict = "planned"
	// Current: the host has that version already; nothing to do.
	Current Verdict = "current"
	// Excluded: the version does not fit the host (architecture,
	// platform, an unorderable version) and no option changes that.
	Excluded Verdict = "excluded"
	// NotOffered: the host's repositories do not offer the version.
	NotOffered Verdict = "not-offered"
	// DowngradeRefused: the version is lower than the installed one and
	// downgrades were not allowed.
	DowngradeRefused Verdict = "downgrade-refused"
)

// TargetFit is the decision for one candidate.
type TargetFit struct {
	Verdict Verdict
	// Version is the candidate's version, what to install when Planned.
	Version string
	// Reason explains every verdict but a plain Planned; for a Planned
	// one it notes a forced or downgrade plan.
	Reason string
}

// FitTarget decides whether a candidate version may be planned for a
// host. In order: the host's (when it reported one) and the package's
// architectures must be known; the version must be for the host's platform
// (the advisory's ecosystems, and the version's own dist tag); it must
// differ from the installed version, and be higher unless downgrades are
// allowed; and the host's repositories must offer it (an advisory's fix:
// it or newer) unless forced. A downgrade is not checked against the
// offered updates, which list only newer versions: allowing it is the
// operator's explicit choice.
func FitTarget(h FitHost, c Candidate, o FitOptions) TargetFit {
	// An agent reading an image (--root) whose packages are all
	// architecture-independent reports none; jobs name only package
	// architectures, so only a reported, unknown one excludes the host.
	if h.Arch != "" && !KnownArch(h.Arch) {
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("host architecture %q is not a known architecture", truncate(h.Arch))}
	}
	if c.Arch != "" && !KnownArch(c.Arch) {
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("package architecture %q of %s is not a known architecture", truncate(c.Arch), truncate(c.Name))}
	}
	if len(c.Platforms) > 0 && !slices.ContainsFunc(c.Platforms, func(p Platform) bool { return p.fits(h.Platform) }) {
		names := make([]string, len(c.Platforms))
		for i, p := range c.Platforms {
			names[i] = p.String()
		}
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("advisory %s is for %s, not this host's %s",
			c.Advisory, strings.Join(names, ", "), h.Platform)}
	}
	if p, ok := VersionPlatform(c.Version); ok && !p.fits(h.Platform) {
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("%s %s is built for %s, not this host's %s",
			c.Name, c.Version, p, h.Platform)}
	}
	eco := version.Ecosystem(h.Platform.Format)
	if eco != version.Dpkg && eco != version.RPM && eco != version.Apk {
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("the host's package format %q is not dpkg, rpm or apk", truncate(h.Platform.Format))}
	}
	cmp, err := version.Compare(eco, c.Version, c.Installed)
	if err != nil {
		return TargetFit{Verdict: Excluded, Reason: fmt.Sprintf("%s: %v", c.Name, err)}
	}
	switch {
	case cmp == 0:
		return TargetFit{Verdict: Current, Version: c.Version, Reason: fmt.Sprintf("%s %s is installed", c.Name, c.Installed)}
	case cmp < 0 && !o.AllowDowngrade:
		return TargetFit{Verdict: DowngradeRefused, Version: c.Version, Reason: fmt.Sprintf(
			"%s %s is lower than the installed %s; a downgrade needs allow-downgrade", c.Name, c.Version, c.Installed)}
	case cmp < 0:
		return TargetFit{Verdict: Planned, Version: c.Version, Reason: fmt.Sprintf("downgrade from %s, allowed", c.Installed)}
	}
	if c.Offered != "" {
		if oc, err := version.Compare(eco, c.Offered, c.Version); err == nil && (oc == 0 || oc > 0 && c.Advisory != "") {
			if oc == 0 {
				return TargetFit{Verdict: Planned, Version: c.Version}
			}
			// The fix is available, as a finding's FixAvailable says: the
			// repositories offer it or newer. The plan keeps the fixed
			// version, since a change pins one version per package and
			// platform for all its hosts, whose repositories may differ.
			return TargetFit{Verdict: Planned, Version: c.Version, Reason: fmt.Sprintf(
				"the repositories offer %s, newer than the fix", c.Offered)}
		}
	}
	offered := "none"
	if c.Offered != "" {
		offered = c.Offered
	}
	if o.ForceNotOffered {
		return TargetFit{Verdict: Planned, Version: c.Version, Reason: fmt.Sprintf(
			"forced: the repositories do not offer %s %s (they offer %s)", c.Name, c.Version, offered)}
	}
	return TargetFit{Verdict: NotOffered, Version: c.Version, Reason: fmt.Sprintf(
		"the repositories do not offer %s %s (they offer %s); force-not-offered plans it anyway", c.Name, c.Version, offered)}
}

// truncate shortens hostile strings in reasons.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
