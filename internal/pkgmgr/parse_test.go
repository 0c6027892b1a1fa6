package pkgmgr

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.want from the parsers' output")

// parsers maps a testdata folder to the parser of that tool's output.
var parsers = map[string]func([]byte) ([]Update, error){
	"apt": parseAptSimulate,
	"dnf": func(b []byte) ([]Update, error) { return parseDNFCheckUpdate(b), nil },
	"apk": parseApkVersion,
}

func TestParsersMatchGoldenFiles(t *testing.T) {
	for dir, parse := range parsers {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
		}
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				in, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				us, err := parse(in)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if us == nil {
					us = []Update{}
				}
				got, err := json.MarshalIndent(us, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				golden.Check(t, strings.TrimSuffix(file, ".txt")+".want", got, *update)
			})
		}
	}
}

func TestParseAptSimulate(t *testing.T) {
	t.Run("the real bookworm capture lists every Inst line as an update", func(t *testing.T) {
		in, err := os.ReadFile("testdata/apt/dist-upgrade-bookworm.txt")
		if err != nil {
			t.Fatal(err)
		}
		us, err := parseAptSimulate(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(us), bytes.Count(in, []byte("\nInst ")); got != want || got != 124 {
			t.Fatalf("got %d updates, want %d (124 upgraded)", got, want)
		}
		want := Update{Name: "libgcrypt20", Arch: "amd64", Version: "1.10.1-3+deb12u1",
			Repo: "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"}
		if !containsUpdate(us, want) {
			t.Errorf("missing %+v", want)
		}
		epoch := Update{Name: "libcap2", Arch: "amd64", Version: "1:2.66-4+deb12u3+b1", Repo: "Debian:12.15/oldstable"}
		if !containsUpdate(us, epoch) {
			t.Errorf("missing %+v", epoch)
		}
	})
	t.Run("new installs are not updates and foreign-arch names lose their suffix", func(t *testing.T) {
		in, err := os.ReadFile("testdata/apt/multiarch-kernel.txt")
		if err != nil {
			t.Fatal(err)
		}
		us, err := parseAptSimulate(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Name == "linux-image-6.1.0-28-amd64" {
				t.Errorf("new install listed as update: %+v", u)
			}
		}
		if !containsUpdate(us, Update{Name: "libc6", Arch: "i386", Version: "2.36-9+deb12u9", Repo: "Debian:12.8/stable"}) {
			t.Errorf("libc6:i386 not parsed: %+v", us)
		}
	})
	bad := []string{
		"Inst -oAPT::x [1] (2 r [amd64])",
		"Inst foo [1.0 (2 r [amd64])",
		"Inst foo [1.0]",
		"Inst foo [1.0] (2 r [amd64]",
		"Inst foo [1.0] (-2 r [amd64])",
		"Inst foo [1.0] (2 r [am d64])",
		"Inst foo [1.0] (2 r [$(id)])",
	}
	for _, line := range bad {
		t.Run("rejects malformed line "+line, func(t *testing.T) {
			if us, err := parseAptSimulate([]byte(line + "\n")); err == nil {
				t.Errorf("no error; got %+v", us)
			}
		})
	}
}

func TestParseDNFCheckUpdate(t *testing.T) {
	in, err := os.ReadFile("testdata/dnf/check-update-wrapped-obsoletes.txt")
	if err != nil {
		t.Fatal(err)
	}
	us := parseDNFCheckUpdate(in)
	want := []Update{
		{Name: "NetworkManager-cloud-setup", Arch: "x86_64", Version: "1:1.46.0-8.el9_4", Repo: "appstream"},
		{Name: "python3-dnf-plugin-post-transaction-actions", Arch: "noarch", Version: "4.3.0-13.el9", Repo: "baseos"},
		{Name: "selinux-policy-targeted", Arch: "noarch", Version: "38.1.35-2.el9_4.2", Repo: "baseos"},
		{Name: "texlive-collection-fontsrecommended", Arch: "noarch", Version: "9:20200406-26.el9_2", Repo: "appstream"},
		{Name: "grub2-tools", Arch: "x86_64", Version: "1:2.06-80.el9_4", Repo: "baseos"},
	}
	if len(us) != len(want) {
		t.Fatalf("wrapped names and the Obsoleting section: got %+v, want %+v", us, want)
	}
	for i := range want {
		if us[i] != want[i] {
			t.Errorf("update %d = %+v, want %+v", i, us[i], want[i])
		}
	}
	t.Run("a name with dots keeps them and the arch is after the last dot", func(t *testing.T) {
		us := parseDNFCheckUpdate([]byte("python3.11-libs.x86_64  3.11.7-1.el9_4.1  appstream\n"))
		if len(us) != 1 || us[0].Name != "python3.11-libs" || us[0].Arch != "x86_64" {
			t.Errorf("got %+v", us)
		}
	})
	t.Run("injection-shaped lines are skipped", func(t *testing.T) {
		us := parseDNFCheckUpdate([]byte("-x.x86_64 1.0-1 repo\nfoo.x86_64 --1 repo\nfoo 1.0 repo\n"))
		if len(us) != 0 {
			t.Errorf("got %+v", us)
		}
	})
}

func TestParseApkVersion(t *testing.T) {
	tests := []struct {
		line       string
		name, vers string
	}{
		{"busybox-1.36.1-r5 < 1.36.1-r7", "busybox", "1.36.1-r7"},
		{"py3-setuptools-scm-8.0.4-r1 < 8.0.4-r2", "py3-setuptools-scm", "8.0.4-r2"},
		{"xf86-video-r128-6.12.1-r3     < 6.12.1-r4", "xf86-video-r128", "6.12.1-r4"},
		{"font-adobe-100dpi-1.0.4-r2 < 1.0.4-r3", "font-adobe-100dpi", "1.0.4-r3"},
		{"musl-1.2.4_git20230717-r4 < 1.2.4_git20230717-r5", "musl", "1.2.4_git20230717-r5"},
	}
	for _, tt := range tests {
		t.Run("splits "+tt.line, func(t *testing.T) {
			us, err := parseApkVersion([]byte(tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(us) != 1 || us[0].Name != tt.name || us[0].Version != tt.vers {
				t.Errorf("got %+v, want %s %s", us, tt.name, tt.vers)
			}
		})
	}
	for _, line := range []string{"busybox < 1.0-r0", "-x-1.0-r0 < 1.1-r0", "foo-1.0-r0 < -1"} {
		t.Run("rejects "+line, func(t *testing.T) {
			if us, err := parseApkVersion([]byte(line)); err == nil {
				t.Errorf("no error; got %+v", us)
			}
		})
	}
}

func containsUpdate(us []Update, want Update) bool {
	for _, u := range us {
		if u == want {
			return true
		}
	}
	return false
}
