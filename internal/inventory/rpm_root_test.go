package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/rpmtest"
)

// rpmImage builds an rpm image root holding pbtest-base and name at
// version, with its database in var/lib/rpm.
func rpmImage(t *testing.T, name, version string) string {
	t.Helper()
	work, repo, root := t.TempDir(), t.TempDir(), t.TempDir()
	rpmtest.BuildBase(t, work, repo)
	rpmtest.BuildRPM(t, work, repo, name, version, "")
	rpmtest.MakeImageRoot(t, root, repo, "pbtest-base-1-1.noarch.rpm", name+"-"+version+".noarch.rpm")
	writeOSRelease(t, root)
	return root
}

func writeOSRelease(t *testing.T, root string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=\"almalinux\"\nVERSION_ID=\"9.4\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func packageNames(pkgs []Package) string {
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name+"="+p.Version)
	}
	return strings.Join(names, " ")
}

// The real rpm reads an image's database, also where the image keeps it
// behind a link inside the image (Fedora's var/lib/rpm ->
// ../../usr/lib/sysimage/rpm).
func TestCollectReadsRPMImagesWithTheRealRPM(t *testing.T) {
	rpmtest.Require(t)
	root := rpmImage(t, "pbtest-hello", "1.0-1")
	snap, err := Collector{Root: root}.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := packageNames(snap.Packages), "pbtest-base=1-1 pbtest-hello=1.0-1"; got != want || snap.Facts.PackageFormat != FormatRPM {
		t.Fatalf("packages %q (%s), want %q (rpm)", got, snap.Facts.PackageFormat, want)
	}

	sysimage := filepath.Join(root, "usr/lib/sysimage")
	if err := os.MkdirAll(sysimage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "var/lib/rpm"), filepath.Join(sysimage, "rpm")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../usr/lib/sysimage/rpm", filepath.Join(root, "var/lib/rpm")); err != nil {
		t.Fatal(err)
	}
	snap, err = Collector{Root: root}.Collect(t.Context())
	if err != nil {
		t.Fatalf("an image with var/lib/rpm linked inside it: %v", err)
	}
	if got, want := packageNames(snap.Packages), "pbtest-base=1-1 pbtest-hello=1.0-1"; got != want {
		t.Fatalf("packages %q, want %q", got, want)
	}
}

// An image whose rpm database is a link leaving the image must not make
// the host's rpm read a database outside it (here another image holding
// pbtest-secret): the link is refused and nothing is reported.
func TestCollectRefusesAnRPMDatabaseLinkedOutsideTheImage(t *testing.T) {
	rpmtest.Require(t)
	outside := rpmImage(t, "pbtest-secret", "9.9-1")
	outsideDB := filepath.Join(outside, "var/lib/rpm/rpmdb.sqlite")
	for _, tt := range []struct {
		name   string
		target func(root string) string
		decoy  bool // an empty var/lib/rpm/Packages beside the link
	}{
		{"an absolute link", func(string) string { return outsideDB }, false},
		{"an absolute link beside a decoy Packages file", func(string) string { return outsideDB }, true},
		{"a relative link climbing out beside a decoy", func(root string) string {
			rel, err := filepath.Rel(filepath.Join(root, "var/lib/rpm"), outsideDB)
			if err != nil {
				t.Fatal(err)
			}
			return rel
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := rpmImage(t, "pbtest-hello", "1.0-1")
			dbdir := filepath.Join(root, "var/lib/rpm")
			for _, f := range []string{"rpmdb.sqlite", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal"} {
				if err := os.Remove(filepath.Join(dbdir, f)); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(tt.target(root), filepath.Join(dbdir, "rpmdb.sqlite")); err != nil {
				t.Fatal(err)
			}
			if tt.decoy {
				if err := os.WriteFile(filepath.Join(dbdir, "Packages"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := Collector{Root: root}.Collect(t.Context())
			if err == nil || !strings.Contains(err.Error(), "var/lib/rpm/rpmdb.sqlite") || !strings.Contains(err.Error(), "leaves the image root") {
				t.Fatalf("Collect = %v with packages %q, want a refusal of the link leaving the image root", err, packageNames(snap.Packages))
			}
			if strings.Contains(err.Error(), "pbtest-secret") {
				t.Fatalf("the refusal shows the outside database's content: %v", err)
			}
		})
	}
}
