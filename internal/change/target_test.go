package change

import (
	"strings"
	"testing"
)

func TestVersionPlatformReadsTheDistTag(t *testing.T) {
	tests := []struct {
		version string
		want    Platform
		ok      bool
	}{
		{"2.28-225.el8_8.6", Platform{"rpm", "el", "8"}, true},
		{"2.28-42.0.1.el8_0.1", Platform{"rpm", "el", "8"}, true},
		{"1:1.1.1-8.0.1.el8", Platform{"rpm", "el", "8"}, true},
		{"8.0.1-1.module+el8.6.0+1087+b42c8331", Platform{"rpm", "el", "8"}, true},
		{"2.17-292.el7", Platform{"rpm", "el", "7"}, true},
		{"2.12-1.212.el6", Platform{"rpm", "el", "6"}, true},
		{"2.34-25.fc35", Platform{"rpm", "fedora", "35"}, true},
		{"2.26-32.amzn2.0.1", Platform{"rpm", "amzn", "2"}, true},
		{"2.34-52.amzn2023.0.8", Platform{"rpm", "amzn", "2023"}, true},
		{"2.26-lp151.18.7", Platform{"rpm", "suse", "15.1"}, true},
		{"2.28-3.ph3", Platform{"rpm", "photon", "3"}, true},
		{"2.28-10+deb10u1", Platform{"dpkg", "debian", "10"}, true},
		{"2.27-3ubuntu1", Platform{"dpkg", "ubuntu", ""}, true},
		{"1.2-3ubuntu0.1~22.04.1", Platform{"dpkg", "ubuntu", "22.04"}, true},
		{"2.28-10", Platform{}, false},
		{"1.1.22-r3", Platform{}, false},
		{"1.0", Platform{}, false},
		// "el" inside a word is not a tag.
		{"1.0-shell8", Platform{}, false},
		// The upstream part is not the release part.
		{"el8-1", Platform{}, false},
	}
	for _, tt := range tests {
		got, ok := VersionPlatform(tt.version)
		if got != tt.want || ok != tt.ok {
			t.Errorf("VersionPlatform(%q) = %+v, %v; want %+v, %v", tt.version, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHostPlatformMapsOSReleaseToFamilyAndRelease(t *testing.T) {
	tests := []struct {
		id        string
		like      []string
		versionID string
		format    string
		want      Platform
	}{
		// The trivy images of ../shared/data/inventories/package-lists.
		{"ol", []string{"fedora"}, "8.0", "rpm", Platform{"rpm", "el", "8"}},
		{"rhel", []string{"fedora"}, "7.9", "rpm", Platform{"rpm", "el", "7"}},
		{"centos", []string{"rhel", "fedora"}, "6", "rpm", Platform{"rpm", "el", "6"}},
		{"amzn", []string{"centos", "rhel", "fedora"}, "2", "rpm", Platform{"rpm", "amzn", "2"}},
		{"fedora", nil, "35", "rpm", Platform{"rpm", "fedora", "35"}},
		{"opensuse-leap", []string{"suse", "opensuse"}, "15.1", "rpm", Platform{"rpm", "suse", "15.1"}},
		{"photon", nil, "3.0", "rpm", Platform{"rpm", "photon", "3"}},
		{"debian", nil, "10", "dpkg", Platform{"dpkg", "debian", "10"}},
		{"ubuntu", []string{"debian"}, "18.04", "dpkg", Platform{"dpkg", "ubuntu", "18.04"}},
		{"alpine", nil, "3.10.9", "apk", Platform{"apk", "alpine", "3.10"}},
		// Others.
		{"almalinux", []string{"rhel", "centos", "fedora"}, "9.4", "rpm", Platform{"rpm", "el", "9"}},
		{"rocky", nil, "8.10", "", Platform{"rpm", "el", "8"}},
		{"debian", nil, "12", "", Platform{"dpkg", "debian", "12"}},
		{"linuxmint", []string{"ubuntu", "debian"}, "21.3", "dpkg", Platform{"dpkg", "ubuntu", ""}},
		{"eurolinux", []string{"rhel", "fedora", "centos"}, "9.2", "rpm", Platform{"rpm", "el", ""}},
		{"gentoo", nil, "2.15", "", Platform{"", "gentoo", ""}},
	}
	for _, tt := range tests {
		if got := HostPlatform(tt.id, tt.like, tt.versionID, tt.format); got != tt.want {
			t.Errorf("HostPlatform(%q, %q, %q, %q) = %+v, want %+v", tt.id, tt.like, tt.versionID, tt.format, got, tt.want)
		}
	}
}

func TestAdvisoryPlatformNamesTheFamily(t *testing.T) {
	tests := []struct {
		distro, release, format string
		want                    Platform
	}{
		{"almalinux", "8", "rpm", Platform{"rpm", "el", "8"}},
		{"rocky", "9", "rpm", Platform{"rpm", "el", "9"}},
		{"rhel", "9", "rpm", Platform{"rpm", "el", "9"}},
		{"ubuntu", "22.04", "dpkg", Platform{"dpkg", "ubuntu", "22.04"}},
		{"debian", "12", "dpkg", Platform{"dpkg", "debian", "12"}},
		{"alpine", "3.19", "apk", Platform{"apk", "alpine", "3.19"}},
	}
	for _, tt := range tests {
		if got := AdvisoryPlatform(tt.distro, tt.release, tt.format); got != tt.want {
			t.Errorf("AdvisoryPlatform(%q, %q, %q) = %+v, want %+v", tt.distro, tt.release, tt.format, got, tt.want)
		}
	}
}

func TestFitTargetPlansOnlyWhatFitsTheHost(t *testing.T) {
	el8 := FitHost{Arch: "x86_64", Platform: Platform{"rpm", "el", "8"}}
	el7 := FitHost{Arch: "x86_64", Platform: Platform{"rpm", "el", "7"}}
	amzn2 := FitHost{Arch: "x86_64", Platform: Platform{"rpm", "amzn", "2"}}
	fedora35 := FitHost{Arch: "x86_64", Platform: Platform{"rpm", "fedora", "35"}}
	ubuntu2204 := FitHost{Arch: "x86_64", Platform: Platform{"dpkg", "ubuntu", "22.04"}}
	alma8 := []Platform{{"rpm", "el", "8"}}
	glibc := func(installed, offered string) Candidate {
		return Candidate{Name: "glibc", Arch: "x86_64", Installed: installed, Version: "2.28-225.el8_8.6", Offered: offered}
	}
	tests := []struct {
		name    string
		host    FitHost
		cand    Candidate
		opts    FitOptions
		verdict Verdict
		version string
		reason  string // a part of the reason
	}{
		{"an offered el8 version is planned on an el8 host", el8, glibc("2.28-42.0.1.el8_0.1", "2.28-225.el8_8.6"), FitOptions{},
			Planned, "2.28-225.el8_8.6", ""},
		{"an el8 version is excluded on an el7 host even when forced", el7, glibc("2.17-292.el7", ""), FitOptions{ForceNotOffered: true, AllowDowngrade: true},
			Excluded, "", "glibc 2.28-225.el8_8.6 is built for el 8 (rpm), not this host's el 7 (rpm)"},
		{"an el8 version is excluded on Amazon Linux 2", amzn2, glibc("2.26-32.amzn2.0.1", ""), FitOptions{},
			Excluded, "", "not this host's amzn 2 (rpm)"},
		{"an el8 version on Fedora 35 is excluded before it is a downgrade", fedora35, glibc("2.34-25.fc35", ""), FitOptions{AllowDowngrade: true},
			Excluded, "", "not this host's fedora 35 (rpm)"},
		{"an el8 version on a deb host is excluded", ubuntu2204, Candidate{Name: "libc6", Arch: "amd64", Installed: "2.35-0ubuntu3.4", Version: "2.28-225.el8_8.6"}, FitOptions{},
			Excluded, "", "not this host's ubuntu 22.04 (dpkg)"},
		{"a downgrade without the option is refused", el8, glibc("2.28-236.el8_9.12", ""), FitOptions{},
			DowngradeRefused, "2.28-225.el8_8.6", "is lower than the installed 2.28-236.el8_9.12; a downgrade needs allow-downgrade"},
		{"a downgrade with the option is planned", el8, glibc("2.28-236.el8_9.12", ""), FitOptions{AllowDowngrade: true},
			Planned, "2.28-225.el8_8.6", "downgrade from 2.28-236.el8_9.12, allowed"},
		{"the installed version is current", el8, glibc("2.28-225.el8_8.6", ""), FitOptions{},
			Current, "2.28-225.el8_8.6", "is installed"},
		{"a version the repositories do not offer is not offered", el8, glibc("2.28-42.0.1.el8_0.1", ""), FitOptions{},
			NotOffered, "2.28-225.el8_8.6", "the repositories do not offer glibc 2.28-225.el8_8.6 (they offer none)"},
		{"an older version than the offered one is not offered", el8, glibc("2.28-42.0.1.el8_0.1", "2.28-236.el8_9.12"), FitOptions{},
			NotOffered, "2.28-225.el8_8.6", "(they offer 2.28-236.el8_9.12)"},
		{"forcing plans a version not offered", el8, glibc("2.28-42.0.1.el8_0.1", ""), FitOptions{ForceNotOffered: true},
			Planned, "2.28-225.el8_8.6", "forced: the repositories do not offer"},
		{"an rpm epoch spelled out is the same offered version", el8,
			Candidate{Name: "openssl-libs", Arch: "x86_64", Installed: "1:1.1.1-8.0.1.el8", Version: "1:1.1.1k-9.el8_7", Offered: "1:1.1.1k-9.el8_7"}, FitOptions{},
			Planned, "1:1.1.1k-9.el8_7", ""},
		{"an advisory's fix is planned on its release", el8,
			Candidate{Name: "glibc", Arch: "x86_64", Installed: "2.28-42.0.1.el8_0.1", Version: "2.28-225.el8_8.6", Advisory: "ALSA-2023:5455", Platforms: alma8, Offered: "2.28-225.el8_8.6"}, FitOptions{},
			Planned, "2.28-225.el8_8.6", ""},
		{"an advisory's fix is offered when the repositories offer a newer version", el8,
			Candidate{Name: "glibc", Arch: "x86_64", Installed: "2.28-42.0.1.el8_0.1", Version: "2.28-225.el8_8.6", Advisory: "ALSA-2023:5455", Platforms: alma8, Offered: "2.28-236.el8_9.12"}, FitOptions{},
			Planned, "2.28-225.el8_8.6", "the repositories offer 2.28-236.el8_9.12, newer than the fix"},
		{"an advisory's fix not offered is not offered", el8,
			Candidate{Name: "glibc", Arch: "x86_64", Installed: "2.28-42.0.1.el8_0.1", Version: "2.28-225.el8_8.6", Advisory: "ALSA-2023:5455", Platforms: alma8, Offered: "2.28-200.el8"}, FitOptions{},
			NotOffered, "2.28-225.el8_8.6", "(they offer 2.28-200.el8)"},
		{"an advisory for another release is excluded", el7,
			Candidate{Name: "bash", Arch: "x86_64", Installed: "4.2.46-33.el7", Version: "4.2.46-35.el7_9", Advisory: "ALSA-2023:1", Platforms: alma8, Offered: "4.2.46-35.el7_9"}, FitOptions{ForceNotOffered: true},
			Excluded, "", "advisory ALSA-2023:1 is for el 8 (rpm), not this host's el 7 (rpm)"},
		{"a version without a tag is judged by the offer alone", ubuntu2204,
			Candidate{Name: "openssl", Arch: "amd64", Installed: "3.0.2-0ubuntu1", Version: "3.0.2-0ubuntu1.9", Offered: "3.0.2-0ubuntu1.9"}, FitOptions{},
			Planned, "3.0.2-0ubuntu1.9", ""},
		{"a hostile package architecture is excluded", ubuntu2204,
			Candidate{Name: "openssl", Arch: "amd64 --force-all", Installed: "3.0.2-0ubuntu1", Version: "3.0.2-0ubuntu1.9", Offered: "3.0.2-0ubuntu1.9"}, FitOptions{ForceNotOffered: true},
			Excluded, "", `package architecture "amd64 --force-all" of openssl is not a known architecture`},
		{"a hostile host architecture is excluded", FitHost{Arch: "x86_64; reboot", Platform: ubuntu2204.Platform},
			Candidate{Name: "openssl", Arch: "amd64", Installed: "3.0.2-0ubuntu1", Version: "3.0.2-0ubuntu1.9", Offered: "3.0.2-0ubuntu1.9"}, FitOptions{},
			Excluded, "", `host architecture "x86_64; reboot" is not a known architecture`},
		{"a host that reported no architecture (an image of noarch packages) is planned", FitHost{Platform: ubuntu2204.Platform},
			Candidate{Name: "openssl", Arch: "all", Installed: "3.0.2-0ubuntu1", Version: "3.0.2-0ubuntu1.9", Offered: "3.0.2-0ubuntu1.9"}, FitOptions{},
			Planned, "3.0.2-0ubuntu1.9", ""},
		{"a host without a package format is excluded", FitHost{Arch: "x86_64", Platform: Platform{Family: "gentoo"}},
			Candidate{Name: "openssl", Installed: "3.0.2", Version: "3.0.3"}, FitOptions{ForceNotOffered: true},
			Excluded, "", `the host's package format "" is not dpkg, rpm or apk`},
		{"an installed version the ecosystem cannot order is excluded", ubuntu2204,
			Candidate{Name: "openssl", Arch: "amd64", Installed: "3.0 2", Version: "3.0.2-0ubuntu1.9"}, FitOptions{ForceNotOffered: true},
			Excluded, "", "openssl: invalid dpkg version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FitTarget(tt.host, tt.cand, tt.opts)
			if got.Verdict != tt.verdict || got.Version != tt.version {
				t.Errorf("verdict %s version %q (%s), want %s version %q", got.Verdict, got.Version, got.Reason, tt.verdict, tt.version)
			}
			if tt.reason == "" && got.Reason != "" || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", got.Reason, tt.reason)
			}
		})
	}
}
