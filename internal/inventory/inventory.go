package inventory

import "time"

// Format names the package database a package was read from. It decides
// which version ordering applies to the package's versions.
type Format string

// The package database formats Patchbay reads.
const (
	FormatDpkg Format = "dpkg"
	FormatRPM  Format = "rpm"
	FormatApk  Format = "apk"
)

// Package is one installed binary package as the host's package database
// records it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"` // full version as the ecosystem writes it: dpkg "1:2.3-4", rpm "1:2.3-4.el9" (epoch omitted when 0), apk "2.3-r4"
	Arch    string `json:"arch,omitempty"`
	// Source is the source package the binary was built from (dpkg Source:,
	// rpm source RPM name, apk origin). Equal to Name when the database
	// records none.
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source_version,omitempty"` // empty means the same as Version
}

// Key identifies a package slot on a host: the same name may be installed
// once per architecture (dpkg multiarch, rpm multilib).
func (p Package) Key() string { return p.Name + ":" + p.Arch }

// OS is what /etc/os-release says about the host's distribution.
type OS struct {
	ID         string   `json:"id"`                   // "ubuntu", "debian", "almalinux", "alpine"
	IDLike     []string `json:"id_like,omitempty"`    // ["rhel", "centos", "fedora"]
	VersionID  string   `json:"version_id,omitempty"` // "22.04", "9.4", "3.19.1"
	Name       string   `json:"name,omitempty"`
	PrettyName string   `json:"pretty_name,omitempty"`
	Codename   string   `json:"codename,omitempty"` // VERSION_CODENAME
}

// Facts are the host-level facts an agent reports.
type Facts struct {
	Hostname       string        `json:"hostname"`
	OS             OS            `json:"os"`
	Kernel         string        `json:"kernel"` // running kernel release (uname -r)
	Arch           string        `json:"arch"`   // machine architecture as uname reports it: "x86_64", "aarch64"
	Addresses      []string      `json:"addresses,omitempty"`
	Uptime         time.Duration `json:"uptime"`
	RebootRequired bool          `json:"reboot_required"`
	// RebootReasons says why a reboot is required: packages named in
	// reboot-required.pkgs, "running kernel 5.14.0-1 older than installed 5.14.0-2".
	RebootReasons []string `json:"reboot_reasons,omitempty"`
	// ServicesNeedingRestart are the systemd service units that still run
	// replaced binaries or libraries, as needrestart or needs-restarting
	// report them on a live host: sorted, each a valid ".service" unit name,
	// at most MaxRestartServices. A pending kernel upgrade is a reboot
	// reason instead.
	ServicesNeedingRestart []string `json:"services_needing_restart,omitempty"`
	PackageFormat          Format   `json:"package_format,omitempty"`
	// AgentVersion and AgentPlatform (GOOS/GOARCH, "linux/amd64") are the
	// running agent's, set by the agent rather than collected: the server
	// plans agent updates from them.
	AgentVersion  string `json:"agent_version,omitempty"`
	AgentPlatform string `json:"agent_platform,omitempty"`
}

// Snapshot is everything collected from one host at one time.
type Snapshot struct {
	Facts    Facts     `json:"facts"`
	Packages []Package `json:"packages"`
	// Problems are the non-fatal errors met while collecting, each naming
	// the file and line: a malformed stanza is reported here and skipped
	// while the other packages are still reported.
	Problems []string `json:"problems,omitempty"`
}
