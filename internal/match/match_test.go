package match_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/match"
)

// Every expectation below was written by reading the records in testdata;
// the comment beside it gives the reason.

func ubuntuIndex(t *testing.T) *match.Index {
	t.Helper()
	return indexOf(readOSVDir(t, testdata("osv-ubuntu")))
}

// osvScannerTuples returns the packages of the osv-scanner list whose
// ecosystem is eco ("Ubuntu:22.04"), as tuples. osv-scanner names source
// packages, so Name is the source and Source stays empty.
func osvScannerTuples(t *testing.T, eco string) []match.Tuple {
	t.Helper()
	d, ok := advisory.ParseEcosystem(eco)
	if !ok {
		t.Fatalf("ecosystem %q", eco)
	}
	var out []match.Tuple
	seen := map[match.Tuple]bool{}
	for _, l := range readOSVScannerLists(t, testdata("package-lists", "osv-scanner-image-os-packages.json")) {
		for _, p := range l.Packages {
			tu := match.Tuple{Distro: d.ID, Release: d.Release, Name: p.Name, Version: p.Version}
			if p.Ecosystem == eco && !seen[tu] {
				seen[tu] = true
				out = append(out, tu)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no packages for %s", eco)
	}
	return out
}

func TestUbuntu2204ImageIsMatchedAgainstLTSRecords(t *testing.T) {
	ix := ubuntuIndex(t)
	// The image's ecosystem is "Ubuntu:22.04"; the records say
	// "Ubuntu:22.04:LTS". Both are release 22.04.
	got := matchAll(t, ix, osvScannerTuples(t, "Ubuntu:22.04"))
	want := []finding{
		// UBUNTU-CVE-2016-2781: Ubuntu:22.04:LTS coreutils has the range
		// {introduced 0} and no fix; 8.32-4.1ubuntu1.2 is also in its
		// versions list → affected, no fixed version.
		{"coreutils", "8.32-4.1ubuntu1.2", "UBUNTU-CVE-2016-2781", "", "binary"},
		// UBUNTU-CVE-2022-41409: Ubuntu:22.04:LTS pcre2, {introduced 0},
		// no fix → affected, no fix.
		{"pcre2", "10.39-3ubuntu0.1", "UBUNTU-CVE-2022-41409", "", "binary"},
		// UBUNTU-CVE-2022-4899: Ubuntu:22.04:LTS libzstd, {introduced 0},
		// no fix → affected, no fix.
		{"libzstd", "1.4.8+dfsg-3build1", "UBUNTU-CVE-2022-4899", "", "binary"},
		// UBUNTU-CVE-2025-6297: Ubuntu:22.04:LTS dpkg, {introduced 0}, no
		// fix in this snapshot → affected, no fix.
		{"dpkg", "1.21.1ubuntu2.3", "UBUNTU-CVE-2025-6297", "", "binary"},
		// USN-7768-1 fixes dpkg in Ubuntu:22.04:LTS at 1.21.1ubuntu2.6;
		// the host has 1.21.1ubuntu2.3 → affected, fixed 1.21.1ubuntu2.6.
		{"dpkg", "1.21.1ubuntu2.3", "USN-7768-1", "1.21.1ubuntu2.6", "binary"},
	}
	sameFindings(t, got, want)
}

func TestUbuntuImagesWithoutMatchingReleaseEntriesHaveNoFindings(t *testing.T) {
	ix := ubuntuIndex(t)
	for _, eco := range []string{
		// libzstd 1.4.4+dfsg-3ubuntu0.1 is installed, but
		// UBUNTU-CVE-2022-4899 names only Ubuntu:22.04:LTS; coreutils,
		// dpkg and pcre2 are not in this image.
		"Ubuntu:20.04",
		// The chiseled 26.04 image has coreutils, but no record names 26.04.
		"Ubuntu:26.04",
		// The Debian 10 image has coreutils and dpkg, but the records are
		// Ubuntu's: a Debian host must not be matched against them.
		"Debian:10",
	} {
		t.Run(eco, func(t *testing.T) {
			if got := matchAll(t, ix, osvScannerTuples(t, eco)); len(got) > 0 {
				t.Errorf("want no findings, got %v", got)
			}
		})
	}
}

func TestUbuntu1804BinaryListMatchesProRecordsThroughSourceNames(t *testing.T) {
	ix := ubuntuIndex(t)
	tuples := trivyTuples(readTrivyList(t, testdata("package-lists", "trivy-ubuntu-18.04.json")), "ubuntu", "18.04")
	got := matchAll(t, ix, tuples)
	want := []finding{
		// UBUNTU-CVE-2016-2781 has Ubuntu:Pro:18.04:LTS coreutils,
		// {introduced 0}, no fix; Pro entries apply to release 18.04.
		{"coreutils", "8.28-1ubuntu1", "UBUNTU-CVE-2016-2781", "", "binary"},
		// UBUNTU-CVE-2025-6297 has Ubuntu:Pro:18.04:LTS dpkg, no fix.
		{"dpkg", "1.19.0.5ubuntu2.1", "UBUNTU-CVE-2025-6297", "", "binary"},
		// Not matched: libzstd1 (source libzstd) — UBUNTU-CVE-2022-4899
		// names libzstd only for 22.04; libpcre3 is built from pcre3, not
		// pcre2; USN-7768-1 names 22.04 and 24.04 only.
	}
	sameFindings(t, got, want)

	// libzstd1 is looked up under its source name as well.
	var libzstd1 match.Tuple
	for _, tu := range tuples {
		if tu.Name == "libzstd1" {
			libzstd1 = tu
		}
	}
	keys := match.KeysOf(libzstd1)
	wantKeys := []match.Key{{"ubuntu", "18.04", "libzstd1"}, {"ubuntu", "18.04", "libzstd"}}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("KeysOf(libzstd1) = %v, want %v", keys, wantKeys)
	}
}

func TestUbuntuBinaryPackagesMatchTheirSourcePackageRecord(t *testing.T) {
	ix := ubuntuIndex(t)
	usn := readOSVDir(t, testdata("osv-ubuntu", "USN-7768-1.json"))[0]
	// USN-7768-1 lists the binaries dpkg, dselect and libdpkg-perl for the
	// source package dpkg. A 22.04 host at 1.21.1ubuntu2.3 (the version in
	// the Ubuntu 22.04 image) has each of them affected; only the binary
	// named like the source matches by binary name.
	var bins []string
	for _, a := range usn.Affected {
		if a.Distro.Release == "22.04" {
			bins = a.Binaries
		}
	}
	if want := []string{"dpkg", "dselect", "libdpkg-perl"}; !slices.Equal(bins, want) {
		t.Fatalf("binaries = %v, want %v", bins, want)
	}
	for _, bin := range bins {
		tu := match.Tuple{Distro: "ubuntu", Release: "22.04", Name: bin, Version: "1.21.1ubuntu2.3", Source: "dpkg"}
		via := "source"
		if bin == "dpkg" {
			via = "binary"
		}
		got := matchAll(t, ix, []match.Tuple{tu})
		sameFindings(t, got, []finding{
			{bin, "1.21.1ubuntu2.3", "UBUNTU-CVE-2025-6297", "", via},
			{bin, "1.21.1ubuntu2.3", "USN-7768-1", "1.21.1ubuntu2.6", via},
		})
	}

	// A source hit is compared with the source version, not the binary's:
	// a binary versioned apart from its source (as gcc-8's libgcc1
	// 1:8.3.0-… is) still matches by the source's 1.21.1ubuntu2.3.
	tu := match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "libdpkg-perl", Version: "9:9.9-9", Source: "dpkg", SourceVersion: "1.21.1ubuntu2.3"}
	if ms, _ := ix.Match(tu); len(ms) != 2 || ms[1].AdvisoryID != "USN-7768-1" || ms[1].Fixed != "1.21.1ubuntu2.6" {
		t.Errorf("source version not used: %+v", ms)
	}
	// And at the fixed source version the USN no longer applies, while
	// the CVE record (no fix yet in this snapshot) still does.
	tu.SourceVersion = "1.21.1ubuntu2.6"
	if ms, _ := ix.Match(tu); len(ms) != 1 || ms[0].AdvisoryID != "UBUNTU-CVE-2025-6297" {
		t.Errorf("at the fix: %+v", ms)
	}
}

func TestUbuntuVersionsAtOrAboveTheFixAreNotAffected(t *testing.T) {
	ix := ubuntuIndex(t)
	for _, tc := range []struct {
		name, version string
		want          []string // advisory IDs
	}{
		// USN-7768-1: 22.04 fixed at 1.21.1ubuntu2.6 → not affected at
		// the fix or above; UBUNTU-CVE-2025-6297 has no fix, so it stays.
		{"dpkg", "1.21.1ubuntu2.6", []string{"UBUNTU-CVE-2025-6297"}},
		{"dpkg", "1.21.1ubuntu2.7", []string{"UBUNTU-CVE-2025-6297"}},
		// One below the fix → both.
		{"dpkg", "1.21.1ubuntu2.5", []string{"UBUNTU-CVE-2025-6297", "USN-7768-1"}},
	} {
		ms, errs := ix.Match(match.Tuple{Distro: "ubuntu", Release: "22.04", Name: tc.name, Version: tc.version})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.AdvisoryID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s %s: got %v, want %v", tc.name, tc.version, ids, tc.want)
		}
	}
}

func TestUbuntuUnfixedRecordsAffectEveryVersionOfTheRelease(t *testing.T) {
	// The Ubuntu CVE records pair an explicit versions list with the range
	// {introduced 0} and no fixed event. IsAffected follows OSV: a version
	// is affected if any range or the versions list says so, and the open
	// range covers every version. So a 22.04 coreutils not in the list
	// (8.32-4.1ubuntu1.3 is not among the 5 listed) is affected too.
	ix := ubuntuIndex(t)
	for _, v := range []string{"8.32-4.1ubuntu1.2", "8.32-4.1ubuntu1.3", "9.9-1"} {
		ms, _ := ix.Match(match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "coreutils", Version: v})
		if len(ms) != 1 || ms[0].AdvisoryID != "UBUNTU-CVE-2016-2781" || ms[0].Fixed != "" {
			t.Errorf("coreutils %s: %+v", v, ms)
		}
	}

	// Without the range, only the versions list decides: the same record
	// with its ranges removed affects exactly the listed versions.
	adv := readOSVDir(t, testdata("osv-ubuntu", "UBUNTU-CVE-2016-2781.json"))[0]
	for i := range adv.Affected {
		adv.Affected[i].Ranges = nil
	}
	ix = indexOf([]advisory.Advisory{adv})
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"8.32-4.1ubuntu1.2", true},  // listed for Ubuntu:22.04:LTS
		{"8.32-4ubuntu2", true},      // listed (first entry)
		{"8.32-4.1ubuntu1.3", false}, // not listed
		{"8.30-3ubuntu2", false},     // listed for 20.04, not for 22.04
	} {
		ms, _ := ix.Match(match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "coreutils", Version: tc.v})
		if got := len(ms) == 1 && ms[0].Fixed == ""; got != tc.want {
			t.Errorf("versions only, coreutils %s: affected=%v, want %v (%+v)", tc.v, got, tc.want, ms)
		}
	}
}

// rewriteEcosystem parses the record at path after replacing its ecosystem
// strings old with new, in memory; the copy in testdata stays unchanged.
func rewriteEcosystem(t *testing.T, path, old, new string) advisory.Advisory {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"`+old+`"`), []byte(`"`+new+`"`))
	adv, err := advisory.ParseOSV(bytes.NewReader(b), path)
	if err != nil {
		t.Fatal(err)
	}
	return adv
}

func TestUbuntuEcosystemVariantsAllApplyToTheRelease(t *testing.T) {
	path := testdata("osv-ubuntu", "USN-7768-1.json")
	host := match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "dpkg", Version: "1.21.1ubuntu2.3"}
	for _, eco := range []string{"Ubuntu:22.04:LTS", "Ubuntu:22.04", "Ubuntu:Pro:22.04:LTS", "Ubuntu:Pro:FIPS-updates:22.04:LTS"} {
		t.Run(eco, func(t *testing.T) {
			adv := rewriteEcosystem(t, path, "Ubuntu:22.04:LTS", eco)
			ix := indexOf([]advisory.Advisory{adv})
			ms, errs := ix.Match(host)
			// Whatever the variant, the record's 22.04 entry (fixed at
			// 1.21.1ubuntu2.6) applies to a 22.04 host.
			if len(errs) > 0 || len(ms) != 1 || ms[0].Fixed != "1.21.1ubuntu2.6" {
				t.Errorf("got %+v %v", ms, errs)
			}
			// And never to another release.
			other := host
			other.Release = "20.04"
			if ms, _ := ix.Match(other); len(ms) != 0 {
				t.Errorf("20.04 host matched: %+v", ms)
			}
		})
	}

	// When the LTS entry and a Pro entry of one advisory both say the host
	// is affected, the lowest fix wins. The Pro entry is the real 22.04
	// entry with its fix moved down to 1.21.1ubuntu2.4.
	adv := readOSVDir(t, testdata("osv-ubuntu", "USN-7768-1.json"))[0]
	pro := rewriteEcosystem(t, path, "Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS").Affected[0]
	pro.Ranges = []advisory.Range{{Type: advisory.RangeEcosystem, Events: []advisory.Event{{Introduced: "0"}, {Fixed: "1.21.1ubuntu2.4"}}}}
	adv.Affected = append(adv.Affected, pro)
	ix := indexOf([]advisory.Advisory{adv})
	for _, tc := range []struct{ v, fixed string }{
		{"1.21.1ubuntu2.3", "1.21.1ubuntu2.4"}, // both affected: lowest fix
		{"1.21.1ubuntu2.4", "1.21.1ubuntu2.6"}, // only the LTS entry says affected
		{"1.21.1ubuntu2.6", ""},                // neither
	} {
		h := host
		h.Version = tc.v
		ms, _ := ix.Match(h)
		switch {
		case tc.fixed == "" && len(ms) != 0:
			t.Errorf("%s: want none, got %+v", tc.v, ms)
		case tc.fixed != "" && (len(ms) != 1 || ms[0].Fixed != tc.fixed):
			t.Errorf("%s: want fixed %s, got %+v", tc.v, tc.fixed, ms)
		}
	}
}

// AlmaLinux

func almaIndex(t *testing.T) *match.Index {
	t.Helper()
	return indexOf(readOSVDir(t, testdata("osv-almalinux")))
}

func TestAlmaLinux8HostFromOracleLinuxPackages(t *testing.T) {
	ix := almaIndex(t)
	// The Oracle Linux 8 slim image's packages stand in for an AlmaLinux 8
	// host: the same EL8 binary RPM names and EVRs from 2019.
	tuples := trivyTuples(readTrivyList(t, testdata("package-lists", "trivy-oraclelinux-8-slim.json")), "almalinux", "8")
	got := matchAll(t, ix, tuples)
	want := []finding{
		// ALSA-2022:1065 fixes openssl-libs at 1:1.1.1k-6.el8_5; the host
		// has epoch 1, 1:1.1.1-8.0.1.el8, and 1.1.1 < 1.1.1k → affected.
		{"openssl-libs", "1:1.1.1-8.0.1.el8", "ALSA-2022:1065", "1:1.1.1k-6.el8_5", "binary"},
		// ALBA-2019:3645 fixes gmp at 1:6.1.2-10.el8; host 1:6.1.2-8.el8.
		{"gmp", "1:6.1.2-8.el8", "ALBA-2019:3645", "1:6.1.2-10.el8", "binary"},
		// ALSA-2021:4511 fixes curl and libcurl at 7.61.1-22.el8; host
		// has both binaries at 7.61.1-8.el8.
		{"libcurl", "7.61.1-8.el8", "ALSA-2021:4511", "7.61.1-22.el8", "binary"},
		{"curl", "7.61.1-8.el8", "ALSA-2021:4511", "7.61.1-22.el8", "binary"},
		// ALSA-2022:1642 fixes zlib at 1.2.11-18.el8_5; host 1.2.11-10.el8.
		{"zlib", "1.2.11-10.el8", "ALSA-2022:1642", "1.2.11-18.el8_5", "binary"},
		// ALBA-2022:2100 (util-linux) lists the binaries libblkid,
		// libmount, libsmartcols and libuuid at 2.32.1-35.el8; the host has
		// each at 2.32.1-8.el8.
		{"libblkid", "2.32.1-8.el8", "ALBA-2022:2100", "2.32.1-35.el8", "binary"},
		{"libmount", "2.32.1-8.el8", "ALBA-2022:2100", "2.32.1-35.el8", "binary"},
		{"libsmartcols", "2.32.1-8.el8", "ALBA-2022:2100", "2.32.1-35.el8", "binary"},
		{"libuuid", "2.32.1-8.el8", "ALBA-2022:2100", "2.32.1-35.el8", "binary"},
		// ALSA-2021:4426 fixes ncurses-base and ncurses-libs at
		// 6.1-9.20180224.el8; host 6.1-7.20180224.el8.
		{"ncurses-base", "6.1-7.20180224.el8", "ALSA-2021:4426", "6.1-9.20180224.el8", "binary"},
		{"ncurses-libs", "6.1-7.20180224.el8", "ALSA-2021:4426", "6.1-9.20180224.el8", "binary"},
		// ALBA-2022:1032 updates tzdata to 2022a-1.el8; host 2019c-1.el8.
		{"tzdata", "2019c-1.el8", "ALBA-2022:1032", "2022a-1.el8", "binary"},
		// No other record in testdata names a package of this host, and
		// the AlmaLinux 9 records must not match an EL8 host.
	}
	sameFindings(t, got, want)
}

func TestAlmaLinuxEpochsDecide(t *testing.T) {
	ix := almaIndex(t)
	for _, tc := range []struct {
		release, name, version string
		want                   map[string]string // advisory ID → fixed
	}{
		// ALSA-2022:1065 fixes openssl-libs at 1:1.1.1k-6.el8_5: the host
		// at exactly that EVR is not affected.
		{"8", "openssl-libs", "1:1.1.1k-6.el8_5", nil},
		// The same version without its epoch is epoch 0 < 1: an inventory
		// that drops the epoch would be reported affected, even at a
		// newer release.
		{"8", "openssl-libs", "1.1.1k-7.el8_6", map[string]string{"ALSA-2022:1065": "1:1.1.1k-6.el8_5"}},
		// A higher epoch beats any version: 2:1.0-1 is above 1:1.1.1k-6.
		{"8", "openssl-libs", "2:1.0-1.el8", nil},
		// gmp at the ALBA-2019:3645 fix 1:6.1.2-10.el8 → not affected.
		{"8", "gmp", "1:6.1.2-10.el8", nil},
		// EL9, openssl-libs 1:3.0.7-16.el9_2 (the fix of ALSA-2023:3722):
		// ALSA-2023:2523 (1:3.0.7-6.el9_2) and ALSA-2023:3722 (equal) no
		// longer apply; ALSA-2024:0310 (1:3.0.7-25.el9_3) does.
		{"9", "openssl-libs", "1:3.0.7-16.el9_2", map[string]string{"ALSA-2024:0310": "1:3.0.7-25.el9_3"}},
		// EL9 openssl-libs 3.0.7-27.el9 without its epoch: epoch 0 is
		// below all three fixes (epoch 1) → affected by all three.
		{"9", "openssl-libs", "3.0.7-27.el9", map[string]string{
			"ALSA-2023:2523": "1:3.0.7-6.el9_2", "ALSA-2023:3722": "1:3.0.7-16.el9_2", "ALSA-2024:0310": "1:3.0.7-25.el9_3",
		}},
	} {
		ms, errs := ix.Match(match.Tuple{Distro: "almalinux", Release: tc.release, Name: tc.name, Version: tc.version})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got := map[string]string{}
		for _, m := range ms {
			got[m.AdvisoryID] = m.Fixed
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s %s: got %v, want %v", tc.name, tc.version, got, tc.want)
			continue
		}
		for id, f := range tc.want {
			if got[id] != f {
				t.Errorf("%s %s: %s fixed %q, want %q", tc.name, tc.version, id, got[id], f)
			}
		}
	}
}

func TestAlmaLinux9HandWrittenInventory(t *testing.T) {
	ix := almaIndex(t)
	// An AlmaLinux 9.2 host written by hand from EVRs that the AlmaLinux 9
	// records themselves name as fixes, with the source RPM each binary
	// comes from.
	host := []match.Tuple{
		{Distro: "almalinux", Release: "9", Name: "openssl-libs", Version: "1:3.0.7-16.el9_2", Source: "openssl"},
		{Distro: "almalinux", Release: "9", Name: "openssl", Version: "1:3.0.7-16.el9_2"},
		{Distro: "almalinux", Release: "9", Name: "libcurl-minimal", Version: "7.76.1-23.el9_2.2", Source: "curl"},
		{Distro: "almalinux", Release: "9", Name: "curl-minimal", Version: "7.76.1-23.el9_2.2", Source: "curl"},
		{Distro: "almalinux", Release: "9", Name: "glibc", Version: "2.34-60.el9_2.7"},
		{Distro: "almalinux", Release: "9", Name: "glibc-common", Version: "2.34-60.el9_2.7", Source: "glibc"},
		{Distro: "almalinux", Release: "9", Name: "glibc-minimal-langpack", Version: "2.34-60.el9_2.7", Source: "glibc"},
		{Distro: "almalinux", Release: "9", Name: "bash", Version: "5.1.8-6.el9_1"},
	}
	got := matchAll(t, ix, host)
	want := []finding{
		// ALSA-2024:0310 fixes openssl and openssl-libs at
		// 1:3.0.7-25.el9_3 > 1:3.0.7-16.el9_2 → affected. ALSA-2023:3722
		// (fix equal to the installed EVR) and ALSA-2023:2523 (fix
		// 1:3.0.7-6.el9_2, lower) → not affected.
		{"openssl-libs", "1:3.0.7-16.el9_2", "ALSA-2024:0310", "1:3.0.7-25.el9_3", "binary"},
		{"openssl", "1:3.0.7-16.el9_2", "ALSA-2024:0310", "1:3.0.7-25.el9_3", "binary"},
		// ALSA-2023:5763 fixes curl at 7.76.1-23.el9_2.4 > el9_2.2 →
		// affected; ALSA-2023:4354 (el9_2.2, equal) and ALSA-2023:2650
		// (el9_2.1) → not. Both binaries are named in the records.
		{"libcurl-minimal", "7.76.1-23.el9_2.2", "ALSA-2023:5763", "7.76.1-23.el9_2.4", "binary"},
		{"curl-minimal", "7.76.1-23.el9_2.2", "ALSA-2023:5763", "7.76.1-23.el9_2.4", "binary"},
		// ALSA-2024:3339 fixes glibc and its langpacks at 2.34-100.el9_4.2
		// → affected; ALSA-2023:5453 (2.34-60.el9_2.7, equal) → not.
		{"glibc", "2.34-60.el9_2.7", "ALSA-2024:3339", "2.34-100.el9_4.2", "binary"},
		{"glibc-common", "2.34-60.el9_2.7", "ALSA-2024:3339", "2.34-100.el9_4.2", "binary"},
		{"glibc-minimal-langpack", "2.34-60.el9_2.7", "ALSA-2024:3339", "2.34-100.el9_4.2", "binary"},
		// bash: no record in testdata.
	}
	sameFindings(t, got, want)

	// The AlmaLinux 9 records name only AlmaLinux:9: the same packages on
	// an AlmaLinux 8 host must not pick them up.
	for i := range host {
		host[i].Release = "8"
	}
	for _, f := range matchAll(t, ix, host) {
		if strings.HasPrefix(f.Advisory, "ALSA-2023") || strings.HasPrefix(f.Advisory, "ALSA-2024") {
			t.Errorf("EL9 advisory matched an EL8 host: %v", f)
		}
	}
}

// Alpine

// alpineRelease finds the Alpine release of an apk database from its musl
// version: each Alpine release ships one musl upstream version, and the
// secdb of that release names fixes for it (v3.4's musl fixes are
// 1.1.14-r13 and 1.1.14-r16, so musl 1.1.14-r10 is Alpine 3.4). It returns
// "" when no secdb here names that musl upstream version.
func alpineRelease(t *testing.T, tuples []match.Tuple, secdbs map[string]advisory.Feed) string {
	t.Helper()
	var musl string
	for _, tu := range tuples {
		if tu.Name == "musl" {
			musl, _, _ = strings.Cut(tu.Version, "-r")
		}
	}
	if musl == "" {
		t.Fatal("no musl in the apk database")
	}
	var found []string
	for _, feed := range secdbs {
		for _, a := range feed.Advisories {
			af := a.Affected[0]
			fixed := af.FixedVersions()[0]
			if af.Package == "musl" && strings.HasPrefix(fixed, musl+"-r") && !slices.Contains(found, af.Distro.Release) {
				found = append(found, af.Distro.Release)
			}
		}
	}
	switch len(found) {
	case 0:
		return ""
	case 1:
		return found[0]
	}
	t.Fatalf("musl %s is fixed in several releases: %v", musl, found)
	return ""
}

func alpineFeeds(t *testing.T) (map[string]advisory.Feed, *match.Index) {
	t.Helper()
	feeds := map[string]advisory.Feed{}
	ix := match.NewIndex()
	for _, rel := range []string{"v3.4", "v3.10"} {
		f := readSecDB(t, testdata("secdb", rel, "main.json"))
		feeds[rel] = f
		ix.Put(f.Advisories...)
	}
	return feeds, ix
}

func TestAlpine34ApkDatabaseAgainstSecDB(t *testing.T) {
	feeds, ix := alpineFeeds(t)
	tuples, problems := apkTuples(t, testdata("apk", "trivy-apk.installed"), "")
	// trivy's fixture has one record without V:, which the parser skips.
	if len(problems) != 1 || !strings.Contains(problems[0], "invalidPackageWithoutAVersion") {
		t.Errorf("problems = %v", problems)
	}
	// musl 1.1.14-r10 → Alpine 3.4 (see alpineRelease).
	rel := alpineRelease(t, tuples, feeds)
	if rel != "3.4" {
		t.Fatalf("release = %q, want 3.4", rel)
	}
	for i := range tuples {
		tuples[i].Release = rel
	}
	got := matchAll(t, ix, tuples)

	id := func(pkg, cve string) string { return "ALPINE-v3.4-" + pkg + "-" + cve }
	var want []finding
	add := func(name, ver, pkg, fixed, via string, cves ...string) {
		for _, c := range cves {
			want = append(want, finding{name, ver, id(pkg, c), fixed, via})
		}
	}
	for _, bin := range []struct{ name, via string }{{"musl", "binary"}, {"musl-utils", "source"}} {
		// v3.4 musl: CVE-2016-8859 fixed in 1.1.14-r13, CVE-2017-15650 in
		// 1.1.14-r16; musl and musl-utils (origin musl) are 1.1.14-r10.
		add(bin.name, "1.1.14-r10", "musl", "1.1.14-r13", bin.via, "CVE-2016-8859")
		add(bin.name, "1.1.14-r10", "musl", "1.1.14-r16", bin.via, "CVE-2017-15650")
	}
	// v3.4 busybox: CVE-2016-2147/2148 fixed in 1.24.2-r0 ≤ r9 → not
	// affected; CVE-2016-6301 fixed in r12, CVE-2017-15873/16544 in r13.
	add("busybox", "1.24.2-r9", "busybox", "1.24.2-r12", "binary", "CVE-2016-6301")
	add("busybox", "1.24.2-r9", "busybox", "1.24.2-r13", "binary", "CVE-2017-15873", "CVE-2017-16544")
	// v3.4 zlib: four CVEs fixed in 1.2.11-r0; host 1.2.8-r2.
	add("zlib", "1.2.8-r2", "zlib", "1.2.11-r0", "binary", "CVE-2016-9840", "CVE-2016-9841", "CVE-2016-9842", "CVE-2016-9843")
	// v3.4 openssl, matched through origin openssl for libcrypto1.0 and
	// libssl1.0 at 1.0.2h-r1: fixes in 1.0.2h-r0 and 1.0.2h-r1 (equal) do
	// not apply; every later fix does. CVE-2017-3738 is listed under
	// 1.0.2n-r0 and 1.0.2o-r0; the reader keeps the higher.
	for _, bin := range []string{"libcrypto1.0", "libssl1.0"} {
		v := "1.0.2h-r1"
		add(bin, v, "openssl", "1.0.2h-r2", "source", "CVE-2016-2180")
		add(bin, v, "openssl", "1.0.2h-r3", "source", "CVE-2016-2179", "CVE-2016-2182", "CVE-2016-6302", "CVE-2016-6303")
		add(bin, v, "openssl", "1.0.2h-r4", "source", "CVE-2016-2181")
		add(bin, v, "openssl", "1.0.2i-r0", "source", "CVE-2016-2183", "CVE-2016-6304", "CVE-2016-6306")
		add(bin, v, "openssl", "1.0.2j-r0", "source", "CVE-2016-7052")
		add(bin, v, "openssl", "1.0.2k-r0", "source", "CVE-2016-7055", "CVE-2017-3731", "CVE-2017-3732")
		add(bin, v, "openssl", "1.0.2m-r0", "source", "CVE-2017-3735", "CVE-2017-3736")
		add(bin, v, "openssl", "1.0.2n-r0", "source", "CVE-2017-3737")
		add(bin, v, "openssl", "1.0.2o-r0", "source", "CVE-2017-3738", "CVE-2018-0733", "CVE-2018-0739")
		add(bin, v, "openssl", "1.0.2o-r1", "source", "CVE-2018-0732")
		add(bin, v, "openssl", "1.0.2o-r2", "source", "CVE-2018-0737")
		add(bin, v, "openssl", "1.0.2q-r0", "source", "CVE-2018-0734", "CVE-2018-5407")
	}
	// sqlite-libs 3.26.0-r3 (origin sqlite) is above both v3.4 sqlite
	// fixes (3.13.0-r1, 3.13.0-r2) → not affected. apk-tools, pax-utils,
	// alpine-baselayout, libc-dev, pkgconf: no secfixes in v3.4.
	sameFindings(t, got, want)
	if len(want) != 2*2+3+4+2*23 {
		t.Fatalf("expectation miscounted: %d", len(want))
	}
}

func TestAlpine310PackageListAgainstSecDB(t *testing.T) {
	feeds, ix := alpineFeeds(t)
	// trivy's Alpine 3.10 image list: binary names with their origin.
	tuples := trivyTuples(readTrivyList(t, testdata("package-lists", "trivy-alpine-310.json")), "alpine", "")
	if rel := alpineRelease(t, tuples, feeds); rel != "3.10" {
		t.Fatalf("release = %q, want 3.10 (musl 1.1.22)", rel)
	}
	for i := range tuples {
		tuples[i].Release = "3.10"
	}
	got := matchAll(t, ix, tuples)
	var want []finding
	// v3.10 openssl: CVE-2019-1547/1549/1563 fixed in 1.1.1d-r0 >
	// 1.1.1c-r0 → affected through origin openssl; 1.1.1b-r1 and
	// 1.1.1a-r0 fixes are below → not.
	for _, bin := range []string{"libcrypto1.1", "libssl1.1"} {
		for _, c := range []string{"CVE-2019-1547", "CVE-2019-1549", "CVE-2019-1563"} {
			want = append(want, finding{bin, "1.1.1c-r0", "ALPINE-v3.10-openssl-" + c, "1.1.1d-r0", "source"})
		}
	}
	// Not affected: musl 1.1.22-r3 equals the CVE-2019-14697 fix;
	// busybox 1.30.1-r2 equals its highest fix (CVE-2019-5747 is listed
	// under 1.29.3-r10 and 1.30.1-r2; the higher is kept).
	sameFindings(t, got, want)
}

func TestAlpineDatabasesOfReleasesWithoutSecDBMatchNothing(t *testing.T) {
	feeds, ix := alpineFeeds(t)
	for _, tc := range []struct{ file, release string }{
		// musl 1.2.3 (Alpine 3.16/3.17) and 1.2.4 (3.18, as the
		// osv-scanner list of an Alpine:v3.18 image confirms with musl
		// 1.2.4-r2): no secdb here covers them (the snapshot stops at
		// v3.11), so their packages must not be matched against another
		// release's fixes.
		{"syft-multiple-2.installed", "3.16"},
		{"osv-scalibr-installed", "3.18"},
	} {
		tuples, problems := apkTuples(t, testdata("apk", tc.file), tc.release)
		if len(problems) > 0 {
			t.Errorf("%s: %v", tc.file, problems)
		}
		if rel := alpineRelease(t, tuples, feeds); rel != "" {
			t.Errorf("%s: musl maps to %s, want no secdb release", tc.file, rel)
		}
		if got := matchAll(t, ix, tuples); len(got) > 0 {
			t.Errorf("%s: want no findings, got %v", tc.file, got)
		}
	}
}

// Index maintenance

func TestPutReplacingAnAdvisoryReportsOldAndNewKeys(t *testing.T) {
	usn := readOSVDir(t, testdata("osv-ubuntu", "USN-7768-1.json"))[0]
	ix := match.NewIndex()
	touched := ix.Put(usn)
	want := []match.Key{{"ubuntu", "22.04", "dpkg"}, {"ubuntu", "24.04", "dpkg"}}
	if !slices.Equal(touched, want) {
		t.Fatalf("first Put touched %v, want %v", touched, want)
	}
	host2204 := match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "dpkg", Version: "1.21.1ubuntu2.3"}
	host2404 := match.Tuple{Distro: "ubuntu", Release: "24.04", Name: "dpkg", Version: "1.22.6ubuntu6.2"}
	host2004 := match.Tuple{Distro: "ubuntu", Release: "20.04", Name: "dpkg", Version: "1.19.7ubuntu3.2"}
	// 24.04: USN-7768-1 fixes at 1.22.6ubuntu6.5 > 1.22.6ubuntu6.2.
	if ms, _ := ix.Match(host2404); len(ms) != 1 || ms[0].Fixed != "1.22.6ubuntu6.5" {
		t.Fatalf("24.04 before replace: %+v", ms)
	}

	// A revised record: the 22.04 fix moves down to 1.21.1ubuntu2.3 (the
	// host's version), the 24.04 entry goes, a 20.04 entry comes.
	rev := usn
	rev.Modified = rev.Modified.Add(time.Hour)
	e2204 := usn.Affected[0]
	e2204.Ranges = []advisory.Range{{Type: advisory.RangeEcosystem, Events: []advisory.Event{{Introduced: "0"}, {Fixed: "1.21.1ubuntu2.3"}}}}
	// Its versions list must lose 1.21.1ubuntu2.3 too: a listed version
	// is affected whatever the ranges say.
	e2204.Versions = slices.DeleteFunc(slices.Clone(e2204.Versions), func(v string) bool { return v == "1.21.1ubuntu2.3" })
	e2004 := usn.Affected[0]
	e2004.Ecosystem = "Ubuntu:Pro:20.04:LTS"
	e2004.Distro, _ = advisory.ParseEcosystem(e2004.Ecosystem)
	e2004.Ranges = []advisory.Range{{Type: advisory.RangeEcosystem, Events: []advisory.Event{{Introduced: "0"}, {Fixed: "1.19.7ubuntu3.3"}}}}
	rev.Affected = []advisory.Affected{e2204, e2004}

	touched = ix.Put(rev)
	want = []match.Key{{"ubuntu", "20.04", "dpkg"}, {"ubuntu", "22.04", "dpkg"}, {"ubuntu", "24.04", "dpkg"}}
	if !slices.Equal(touched, want) {
		t.Fatalf("replacing Put touched %v, want %v", touched, want)
	}
	if ix.Len() != 1 {
		t.Errorf("Len = %d after replace, want 1", ix.Len())
	}
	if ms, _ := ix.Match(host2204); len(ms) != 0 {
		t.Errorf("22.04 at the new fix still matched: %+v", ms)
	}
	if ms, _ := ix.Match(host2404); len(ms) != 0 {
		t.Errorf("24.04 entry was not removed: %+v", ms)
	}
	if ms, _ := ix.Match(host2004); len(ms) != 1 || ms[0].Fixed != "1.19.7ubuntu3.3" {
		t.Errorf("20.04 entry not added: %+v", ms)
	}

	// Withdrawing removes the advisory and reports its keys.
	withdrawn := rev
	at := rev.Modified.Add(time.Hour)
	withdrawn.Withdrawn = &at
	touched = ix.Put(withdrawn)
	want = []match.Key{{"ubuntu", "20.04", "dpkg"}, {"ubuntu", "22.04", "dpkg"}}
	if !slices.Equal(touched, want) {
		t.Errorf("withdrawing Put touched %v, want %v", touched, want)
	}
	if ix.Len() != 0 {
		t.Errorf("Len = %d after withdrawal", ix.Len())
	}
	if ms, _ := ix.Match(host2004); len(ms) != 0 {
		t.Errorf("withdrawn advisory still matches: %+v", ms)
	}
	// Withdrawing it again touches nothing.
	if touched := ix.Put(withdrawn); len(touched) != 0 {
		t.Errorf("second withdrawal touched %v", touched)
	}
}

func TestPutKeepsOtherAdvisoriesUnderASharedKey(t *testing.T) {
	ix := ubuntuIndex(t)
	usn := readOSVDir(t, testdata("osv-ubuntu", "USN-7768-1.json"))[0]
	at := usn.Modified
	usn.Withdrawn = &at
	ix.Put(usn)
	// UBUNTU-CVE-2025-6297 shares the key ubuntu/22.04/dpkg and stays.
	ms, _ := ix.Match(match.Tuple{Distro: "ubuntu", Release: "22.04", Name: "dpkg", Version: "1.21.1ubuntu2.3"})
	if len(ms) != 1 || ms[0].AdvisoryID != "UBUNTU-CVE-2025-6297" {
		t.Errorf("got %+v", ms)
	}
	if ix.Len() != 4 {
		t.Errorf("Len = %d, want 4", ix.Len())
	}
}

func TestReleaseMapsOSReleaseToFeedReleases(t *testing.T) {
	for _, tc := range []struct {
		id, versionID   string
		distro, release string
		ok              bool
	}{
		{"ubuntu", "22.04", "ubuntu", "22.04", true},
		{"ubuntu", "24.10", "ubuntu", "24.10", true},
		{"debian", "12", "debian", "12", true},
		{"almalinux", "9.4", "almalinux", "9", true},
		{"almalinux", "8", "almalinux", "8", true},
		{"AlmaLinux", "8.10", "almalinux", "8", true},
		{"rocky", "9.3", "rocky", "9", true},
		{"rhel", "9.2", "rhel", "9", true},
		{"alpine", "3.19.1", "alpine", "3.19", true},
		{"alpine", "3.4.6", "alpine", "3.4", true},
		{"alpine", "3.10", "alpine", "3.10", true},
		{"alpine", "3", "", "", false},
		{"ubuntu", "", "", "", false},
		{"almalinux", "", "", "", false},
		{"centos", "7", "", "", false},
		{"ol", "8.0", "", "", false},
		{"amzn", "2", "", "", false},
		{"fedora", "35", "", "", false},
		{"opensuse-leap", "15.1", "", "", false},
	} {
		d, r, ok := match.Release(tc.id, tc.versionID)
		if !tc.ok && !ok {
			continue // the other results are unspecified when ok is false
		}
		if d != tc.distro || r != tc.release || ok != tc.ok {
			t.Errorf("Release(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.id, tc.versionID, d, r, ok, tc.distro, tc.release, tc.ok)
		}
	}
}
