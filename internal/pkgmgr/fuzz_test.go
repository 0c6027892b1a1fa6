package pkgmgr

import (
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, dir string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkUpdates asserts what every parser promises: whatever the input,
// what it returns is safe to turn into argv.
func checkUpdates(t *testing.T, us []Update) {
	t.Helper()
	for _, u := range us {
		if !ValidName(u.Name) || !ValidVersion(u.Version) || (u.Arch != "" && !validArch(u.Arch)) {
			t.Fatalf("parser returned an unsafe update %+v", u)
		}
	}
}

func FuzzParseAptSimulate(f *testing.F) {
	addSeeds(f, "apt")
	f.Fuzz(func(t *testing.T, b []byte) {
		us, err := parseAptSimulate(b)
		if err == nil {
			checkUpdates(t, us)
		}
	})
}

func FuzzParseDNFCheckUpdate(f *testing.F) {
	addSeeds(f, "dnf")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUpdates(t, parseDNFCheckUpdate(b))
	})
}

func FuzzParseApkVersion(f *testing.F) {
	addSeeds(f, "apk")
	f.Fuzz(func(t *testing.T, b []byte) {
		us, err := parseApkVersion(b)
		if err == nil {
			checkUpdates(t, us)
		}
	})
}
