package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func readRPMFixture(t *testing.T, name string) []byte {
	t.Helper()
	out, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseRPMQueryReadsWhatTheRealRPMPrints(t *testing.T) {
	// Captured from the real rpm by TestRPMQueryGoldenIsWhatTheRealRPMPrints.
	pkgs, problems, err := ParseRPMQuery(readRPMFixture(t, "rpm-qa-captured.txt"), "rpm -qa")
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "basesystem", Version: "10.0-7.el7", Arch: "noarch", Source: "basesystem"},
		{Name: "bash", Version: "4.2.46-33.el7", Arch: "x86_64", Source: "bash"},
		{Name: "bind-libs", Version: "32:9.8.2-0.68.rc1.el6_10.1", Arch: "x86_64", Source: "bind"},
		{Name: "device-mapper", Version: "7:1.02.158-2.el7", Arch: "x86_64", Source: "lvm2", SourceVersion: "7:2.02.185-2.el7"},
		{Name: "kernel-core", Version: "5.14.0-362.8.1.el9_3", Arch: "x86_64", Source: "kernel"},
		{Name: "kernel-core", Version: "5.14.0-427.13.1.el9_4", Arch: "x86_64", Source: "kernel"},
		{Name: "kernel-core", Version: "5.14.0-427.42.1.el9_4", Arch: "x86_64", Source: "kernel"},
		{Name: "openssl-libs", Version: "1:1.0.2k-19.el7", Arch: "x86_64", Source: "openssl"},
	}
	if !slices.Equal(pkgs, want) || len(problems) != 0 {
		t.Errorf("packages\n%+v\nproblems %q\nwant\n%+v", pkgs, problems, want)
	}
}

func TestParseRPMQueryHandlesEdgeCases(t *testing.T) {
	out := "gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\t(none)\n" +
		"kernel-core\t0\t5.14.0\t427.13.1.el9_4\tx86_64\tkernel-5.14.0-427.13.1.el9_4.src.rpm\n" +
		"too\tfew\tfields\n" +
		"weird\t(none)\t1.0\t1\t(none)\t(none)\n" +
		"badepoch\tx\t1.0\t1\tx86_64\tbadepoch-1.0-1.src.rpm\n" +
		"oddsrc\t(none)\t1.0\t1\tx86_64\tnot-a-source-rpm\n" +
		"\n"
	pkgs, problems, err := ParseRPMQuery([]byte(out), "rpm -qa")
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "kernel-core", Version: "5.14.0-427.13.1.el9_4", Arch: "x86_64", Source: "kernel"},
		{Name: "weird", Version: "1.0-1", Source: "weird"},
		{Name: "oddsrc", Version: "1.0-1", Arch: "x86_64", Source: "oddsrc"},
	}
	if !slices.Equal(pkgs, want) {
		t.Errorf("packages\n%+v\nwant\n%+v", pkgs, want)
	}
	wantProblems := []string{
		`rpm -qa:3: expected 6 tab-separated fields, got 3 in "too\tfew\tfields"`,
		`rpm -qa:5: package badepoch has malformed epoch "x"`,
		`rpm -qa:6: package oddsrc has unreadable source rpm "not-a-source-rpm"; source taken as oddsrc`,
	}
	if !slices.Equal(problems, wantProblems) {
		t.Errorf("problems\n%q\nwant\n%q", problems, wantProblems)
	}
}

func TestSplitSourceRPM(t *testing.T) {
	tests := []struct {
		in, name, vr string
		ok           bool
	}{
		{"openssl-3.0.7-27.el9.src.rpm", "openssl", "3.0.7-27.el9", true},
		{"python3.11-setuptools-65.5.1-2.el9.src.rpm", "python3.11-setuptools", "65.5.1-2.el9", true},
		{"kernel-5.14.0-427.el9.nosrc.rpm", "kernel", "5.14.0-427.el9", true},
		{"openssl-3.0.7.src.rpm", "", "", false},
		{"-1-2.src.rpm", "", "", false},
		{"a--2.src.rpm", "", "", false},
		{"openssl-3.0.7-27.el9.rpm", "", "", false},
	}
	for _, tt := range tests {
		name, vr, ok := splitSourceRPM(tt.in)
		if name != tt.name || vr != tt.vr || ok != tt.ok {
			t.Errorf("splitSourceRPM(%q) = %q, %q, %v; want %q, %q, %v", tt.in, name, vr, ok, tt.name, tt.vr, tt.ok)
		}
	}
}

func TestRPMDatabaseDirIsWhereTheImageKeepsItsDatabase(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"EL7 Berkeley DB", map[string]string{"var/lib/rpm/Packages": ""}, "/var/lib/rpm"},
		{"EL9 sqlite", map[string]string{"var/lib/rpm/rpmdb.sqlite": ""}, "/var/lib/rpm"},
		{"openSUSE ndb under sysimage", map[string]string{"usr/lib/sysimage/rpm/Packages.db": ""}, "/usr/lib/sysimage/rpm"},
		{"no rpm database", map[string]string{"var/lib/dpkg/status": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RPMDatabaseDir(writeTree(t, tt.files)); got != tt.want {
				t.Errorf("RPMDatabaseDir = %q, want %q", got, tt.want)
			}
		})
	}
}
