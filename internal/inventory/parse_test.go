package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseFile runs parse over a testdata file, with the file's base name as
// origin.
func parseFile(t *testing.T, name string, parse func(*os.File, string) ([]Package, []string, error)) ([]Package, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pkgs, problems, err := parse(f, filepath.Base(name))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return pkgs, problems
}

func find(t *testing.T, pkgs []Package, name string) Package {
	t.Helper()
	i := slices.IndexFunc(pkgs, func(p Package) bool { return p.Name == name })
	if i < 0 {
		t.Fatalf("package %s not found", name)
	}
	return pkgs[i]
}

func dpkgFile(f *os.File, origin string) ([]Package, []string, error) {
	return ParseDpkgStatus(f, origin)
}
func apkFile(f *os.File, origin string) ([]Package, []string, error) {
	return ParseApkInstalled(f, origin)
}

func TestParseDpkgStatusReadsRealStatusFiles(t *testing.T) {
	// Counts of installed packages agree with
	// `dpkg-query --admindir DIR -W -f '${db:Status-Abbrev}'` (lines "ii "),
	// except where dpkg-query refuses the whole file: a missing final
	// newline (locks-many) and empty or status-less stanzas (syft, a
	// status.d file read here as a status file), which we report and skip.
	tests := []struct {
		file     string
		packages int
		problems []string
	}{
		{"dpkg/trivy-valid.status", 90, nil}, // 91 stanzas, git is "deinstall ok config-files"
		{"dpkg/osv-scalibr-valid.status", 7, nil},
		{"dpkg/osv-scanner-locks-many.status", 1, nil},
		{"dpkg/syft-multiple.status", 2, []string{
			"syft-multiple.status:1: stanza has no Package",
			"syft-multiple.status:3: package no-version has no Status",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pkgs, problems := parseFile(t, tt.file, dpkgFile)
			if len(pkgs) != tt.packages {
				t.Errorf("got %d packages, want %d", len(pkgs), tt.packages)
			}
			if !slices.Equal(problems, tt.problems) {
				t.Errorf("problems = %q, want %q", problems, tt.problems)
			}
			for _, p := range pkgs {
				if p.Name == "" || p.Version == "" || p.Source == "" {
					t.Errorf("incomplete package %+v", p)
				}
			}
		})
	}
}

func TestParseDpkgStatusSpotChecks(t *testing.T) {
	trivy, _ := parseFile(t, "dpkg/trivy-valid.status", dpkgFile)
	scalibr, _ := parseFile(t, "dpkg/osv-scalibr-valid.status", dpkgFile)
	syft, _ := parseFile(t, "dpkg/syft-multiple.status", dpkgFile)
	tests := []struct {
		name string
		got  Package
		want Package
	}{
		{"libc6 names its source glibc", find(t, trivy, "libc6"),
			Package{Name: "libc6", Version: "2.27-3ubuntu1", Arch: "amd64", Source: "glibc"}},
		{"a package without Source is its own source", find(t, scalibr, "acl"),
			Package{Name: "acl", Version: "2.3.1-3", Arch: "amd64", Source: "acl"}},
		{"an epoch is kept as written", find(t, scalibr, "attr"),
			Package{Name: "attr", Version: "1:2.5.1-4", Arch: "amd64", Source: "attr"}},
		{"a source version in parentheses is split off", find(t, scalibr, "util-linux-extra"),
			Package{Name: "util-linux-extra", Version: "2.38.1-5+b1", Arch: "amd64", Source: "util-linux", SourceVersion: "2.38.1-5"}},
		{"architecture all is kept", find(t, syft, "tzdata"),
			Package{Name: "tzdata", Version: "2020a-0+deb10u1", Arch: "all", Source: "tzdata-dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
	if slices.ContainsFunc(trivy, func(p Package) bool { return p.Name == "git" }) {
		t.Error("git (deinstall ok config-files) must not be listed as installed")
	}
}

func TestParseDpkgStatusSkipsOneBrokenStanzaAndKeepsTheRest(t *testing.T) {
	input := `Package: first
Status: install ok installed
Version: 1.0-1
Architecture: amd64

Package: broken
Status: install ok installed
this line is no field
Version: 2.0-1

Package: held
Status: hold ok installed
Version: 3.0-1
Architecture: arm64
Description: spans
 several lines
 .
 with a dot

Package: removed
Status: deinstall ok config-files
Version: 4.0-1

Package: halfway
Status: install ok half-configured
Version: 5.0-1
`
	pkgs, problems, err := ParseDpkgStatus(strings.NewReader(input), "status")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name)
	}
	if want := []string{"first", "held"}; !slices.Equal(names, want) {
		t.Errorf("packages %q, want %q", names, want)
	}
	want := []string{`status:8: expected "Field: value", got "this line is no field"`}
	if !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
}

func TestParseDpkgStatusReportsMalformedFields(t *testing.T) {
	tests := []struct {
		name, input, problem string
	}{
		{"bad status", "Package: a\nStatus: install ok\nVersion: 1\n", "s:1: package a has malformed Status \"install ok\""},
		{"duplicate field", "Package: a\nStatus: install ok installed\nVersion: 1\nVersion: 2\n", "s:4: duplicate field \"version\""},
		{"version with space", "Package: a\nStatus: install ok installed\nVersion: 1 2\n", "s:1: package a has malformed Version \"1 2\""},
		{"unclosed source version", "Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1\n", "s:1: package a: malformed Source \"b (1\""},
		{"continuation first", " lost\nPackage: a\n", "s:1: continuation line before any field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, problems, err := ParseDpkgStatus(strings.NewReader(tt.input), "s")
			if err != nil {
				t.Fatal(err)
			}
			if len(pkgs) != 0 || !slices.Equal(problems, []string{tt.problem}) {
				t.Errorf("got %v, %q; want no packages and %q", pkgs, problems, tt.problem)
			}
		})
	}
}

func TestParseDpkgStatusReportsOverLongLinesAndCarriesOn(t *testing.T) {
	long := strings.Repeat("x", maxLineLen+10)
	input := "Package: a\nStatus: install ok installed\nVersion: 1\nDescription: " + long + "\n more\n\n" +
		"Package: b\nStatus: install ok installed\nVersion: " + long + "\n\n" +
		"Package: c\nStatus: install ok installed\nVersion: 3\n"
	pkgs, problems, err := ParseDpkgStatus(strings.NewReader(input), "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "a" || pkgs[1].Name != "c" {
		t.Errorf("packages %+v, want a and c", pkgs)
	}
	want := []string{
		"s:4: line longer than 1048576 bytes skipped",
		"s:9: line longer than 1048576 bytes skipped",
		"s:9: field \"version\" has an over-long line",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
}

func TestParseDpkgStatusDTreatsStanzasWithoutStatusAsInstalled(t *testing.T) {
	input := "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"
	pkgs, _, err := parseDpkg(strings.NewReader(input), "status.d/base", true)
	if err != nil || len(pkgs) != 1 || pkgs[0].Version != "12.4+deb12u5" {
		t.Errorf("status.d: got %+v, %v", pkgs, err)
	}
	pkgs, problems, _ := ParseDpkgStatus(strings.NewReader(input), "status")
	if len(pkgs) != 0 || !slices.Equal(problems, []string{"status:1: package base-files has no Status"}) {
		t.Errorf("status file: a stanza without Status must be reported, not installed; got %+v, %q", pkgs, problems)
	}
}

func TestParseDpkgStatusDReadsTheSyftStatusDFile(t *testing.T) {
	pkgs, problems := parseFile(t, "dpkg/syft-multiple.status", func(f *os.File, origin string) ([]Package, []string, error) {
		return parseDpkg(f, origin, true)
	})
	want := []string{"syft-multiple.status:1: stanza has no Package", "syft-multiple.status:3: package no-version has no Version"}
	if len(pkgs) != 2 || !slices.Equal(problems, want) {
		t.Errorf("got %d packages and %q; want 2 and %q", len(pkgs), problems, want)
	}
}

func TestParseApkInstalledReadsRealDatabases(t *testing.T) {
	tests := []struct {
		file        string
		packages    int
		problems    []string
		muslVersion string
	}{
		{"apk/osv-scalibr-installed", 15, nil, "1.2.4-r0"},
		{"apk/syft-multiple-2.installed", 14, nil, "1.2.3-r0"},
		{"apk/trivy-apk.installed", 15, []string{"trivy-apk.installed:23: package invalidPackageWithoutAVersion has no V (version)"}, "1.1.14-r10"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pkgs, problems := parseFile(t, tt.file, apkFile)
			if len(pkgs) != tt.packages {
				t.Errorf("got %d packages, want %d", len(pkgs), tt.packages)
			}
			if !slices.Equal(problems, tt.problems) {
				t.Errorf("problems = %q, want %q", problems, tt.problems)
			}
			want := Package{Name: "musl", Version: tt.muslVersion, Arch: "x86_64", Source: "musl"}
			if got := find(t, pkgs, "musl"); got != want {
				t.Errorf("musl = %+v, want %+v", got, want)
			}
		})
	}
	pkgs, _ := parseFile(t, "apk/osv-scalibr-installed", apkFile)
	if got := find(t, pkgs, "alpine-baselayout-data"); got.Source != "alpine-baselayout" {
		t.Errorf("alpine-baselayout-data origin = %q, want alpine-baselayout", got.Source)
	}
}

func TestParseApkInstalledSkipsOneBrokenRecordAndKeepsTheRest(t *testing.T) {
	input := "P:a\nV:1-r0\nA:x86_64\n\nP:b\nno colon here\nV:2-r0\n\nP:c\nV:3-r0\nV:3-r1\n\nP:d\nV:4-r0\n"
	pkgs, problems, err := ParseApkInstalled(strings.NewReader(input), "installed")
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Name: "a", Version: "1-r0", Arch: "x86_64", Source: "a"}, {Name: "d", Version: "4-r0", Source: "d"}}
	if !slices.Equal(pkgs, want) {
		t.Errorf("packages %+v, want %+v", pkgs, want)
	}
	wantProblems := []string{`installed:6: expected "X:value", got "no colon here"`, "installed:11: duplicate field V"}
	if !slices.Equal(problems, wantProblems) {
		t.Errorf("problems %q, want %q", problems, wantProblems)
	}
}
