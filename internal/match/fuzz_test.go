package match_test

import (
	"testing"

	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/version"
)

// FuzzMatch feeds host-reported facts (os-release ID and VERSION_ID, package
// names and versions, all untrusted: they come from agents) through Release
// and Match against the real records in testdata. Match must not panic, and
// every match must be consistent: an advisory with a fixed version says the
// compared version is below it.
func FuzzMatch(f *testing.F) {
	ix := match.NewIndex()
	ix.Put(readOSVDir(f, testdata("osv-ubuntu"))...)
	ix.Put(readOSVDir(f, testdata("osv-almalinux"))...)
	for _, rel := range []string{"v3.4", "v3.10"} {
		ix.Put(readSecDB(f, testdata("secdb", rel, "main.json")).Advisories...)
	}

	for _, s := range []struct{ id, ver, name, v, src, srcv string }{
		{"ubuntu", "22.04", "dpkg", "1.21.1ubuntu2.3", "", ""},
		{"ubuntu", "22.04", "libdpkg-perl", "1.21.1ubuntu2.3", "dpkg", ""},
		{"ubuntu", "18.04", "libzstd1", "1.3.3+dfsg-2ubuntu1", "libzstd", ""},
		{"ubuntu", "22.04", "coreutils", "8.32-4.1ubuntu1.2", "", ""},
		{"almalinux", "8.10", "openssl-libs", "1:1.1.1-8.0.1.el8", "openssl", ""},
		{"almalinux", "9.2", "libcurl-minimal", "7.76.1-23.el9_2.2", "curl", ""},
		{"almalinux", "9.2", "glibc-common", "2.34-60.el9_2.7", "glibc", "2.34-60.el9_2.7"},
		{"alpine", "3.4.6", "libcrypto1.0", "1.0.2h-r1", "openssl", ""},
		{"alpine", "3.10.2", "musl", "1.1.22-r3", "", ""},
		{"alpine", "3.10", "busybox", "1.30.1-r2", "", ""},
	} {
		f.Add(s.id, s.ver, s.name, s.v, s.src, s.srcv)
	}

	f.Fuzz(func(t *testing.T, osID, versionID, name, ver, src, srcVer string) {
		distro, release, ok := match.Release(osID, versionID)
		if !ok {
			return
		}
		tu := match.Tuple{Distro: distro, Release: release, Name: name, Version: ver, Source: src, SourceVersion: srcVer}
		ms, _ := ix.Match(tu)
		eco := map[string]version.Ecosystem{"ubuntu": version.Dpkg, "debian": version.Dpkg, "alpine": version.Apk}[distro]
		if eco == "" {
			eco = version.RPM
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if seen[m.AdvisoryID] {
				t.Fatalf("advisory %s reported twice: %+v", m.AdvisoryID, ms)
			}
			seen[m.AdvisoryID] = true
			compared := ver
			switch m.Via {
			case "binary":
			case "source":
				if srcVer != "" {
					compared = srcVer
				}
			default:
				t.Fatalf("via %q", m.Via)
			}
			if m.Fixed == "" {
				continue
			}
			if c, err := version.Compare(eco, compared, m.Fixed); err != nil || c >= 0 {
				t.Fatalf("%s: %s is not below its fix %s (cmp %d, %v)", m.AdvisoryID, compared, m.Fixed, c, err)
			}
		}
	})
}
