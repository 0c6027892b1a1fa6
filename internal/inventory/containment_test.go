package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file an image root is read from is opened through os.Root: a link
// that leaves the image (absolute, or climbing out with ..) is never
// followed to the file outside. A package database behind such a link is
// an error naming it, rather than an image that seems to hold no packages;
// other files behind one are missing, with a problem saying so.
func TestCollectNeverReadsThroughLinksLeavingTheImage(t *testing.T) {
	// The files an attacker would like the agent to report instead.
	outside := writeTree(t, map[string]string{
		"status":       "Package: outside-secret\nStatus: install ok installed\nVersion: 6.6.6\nArchitecture: amd64\n",
		"installed":    "P:outside-secret\nV:6.6.6\nA:x86_64\n",
		"os-release":   "ID=outside-secret\nVERSION_ID=6\n",
		"reboot.pkgs":  "outside-secret\n",
		"status.d/pkg": "Package: outside-secret\nVersion: 6.6.6\nArchitecture: amd64\n",
	})
	for _, tt := range []struct {
		name    string
		files   map[string]string
		link    string // path in the image made a link to target
		target  string // file in outside
		wantErr string // "" means Collect succeeds
	}{
		{"dpkg status", map[string]string{"etc/os-release": "ID=debian\n"}, "var/lib/dpkg/status", "status", "var/lib/dpkg/status"},
		{"dpkg status.d", map[string]string{"etc/os-release": "ID=debian\n"}, "var/lib/dpkg/status.d", "status.d", "var/lib/dpkg/status.d"},
		{"a dpkg status.d entry", map[string]string{"etc/os-release": "ID=debian\n", "var/lib/dpkg/status.d/base": "Package: base\nVersion: 1\nArchitecture: amd64\n"},
			"var/lib/dpkg/status.d/evil", "status.d/pkg", "var/lib/dpkg/status.d/evil"},
		{"apk installed", map[string]string{"etc/os-release": "ID=alpine\n"}, "lib/apk/db/installed", "installed", "lib/apk/db/installed"},
		{"os-release", map[string]string{"var/lib/dpkg/status": ""}, "etc/os-release", "os-release", ""},
		{"reboot-required.pkgs", map[string]string{"etc/os-release": "ID=debian\n", "var/lib/dpkg/status": "", "run/reboot-required": ""},
			"run/reboot-required.pkgs", "reboot.pkgs", ""},
	} {
		for _, how := range []string{"absolute", "relative"} {
			t.Run(tt.name+" "+how, func(t *testing.T) {
				root := writeTree(t, tt.files)
				link := filepath.Join(root, tt.link)
				target := filepath.Join(outside, tt.target)
				if how == "relative" {
					rel, err := filepath.Rel(filepath.Dir(link), target)
					if err != nil {
						t.Fatal(err)
					}
					target = rel
				}
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				snap, err := Collector{Root: root, Runner: &fakeRunner{}}.Collect(t.Context())
				if err != nil && strings.Contains(err.Error(), "outside-secret") {
					t.Fatalf("the error shows the outside file: %v", err)
				}
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Collect = %v with packages %q, want an error naming %s", err, packageNames(snap.Packages), tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := packageNames(snap.Packages) + " " + snap.Facts.OS.ID + " " + strings.Join(snap.Facts.RebootReasons, " ")
				if strings.Contains(got, "outside-secret") {
					t.Fatalf("Collect read through the link: %s", got)
				}
			})
		}
	}
}
