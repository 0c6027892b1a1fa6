package inventory

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds every testdata file matching glob to the fuzz corpus.
func addSeeds(f *testing.F, glob string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", glob, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkParsed holds for every parser: packages are complete single words
// and every problem names the origin.
func checkParsed(t *testing.T, pkgs []Package, problems []string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("error from an in-memory reader: %v", err)
	}
	for _, p := range pkgs {
		if !isToken(p.Name) || !isToken(p.Version) || !isToken(p.Source) {
			t.Errorf("incomplete package %+v", p)
		}
	}
	for _, pr := range problems {
		if !strings.HasPrefix(pr, "fuzz:") {
			t.Errorf("problem %q does not name its origin", pr)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	addSeeds(f, "dpkg/*")
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, optional := range []bool{false, true} {
			pkgs, problems, err := parseDpkg(bytes.NewReader(data), "fuzz", optional)
			checkParsed(t, pkgs, problems, err)
		}
	})
}

func FuzzParseApkInstalled(f *testing.F) {
	addSeeds(f, "apk/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, problems, err := ParseApkInstalled(bytes.NewReader(data), "fuzz")
		checkParsed(t, pkgs, problems, err)
	})
}

func FuzzParseRPMQuery(f *testing.F) {
	addSeeds(f, "rpm-qa-*.txt")
	f.Add([]byte("gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\t(none)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, problems, err := ParseRPMQuery(data, "fuzz")
		checkParsed(t, pkgs, problems, err)
		for _, p := range pkgs {
			if p.Name == "gpg-pubkey" {
				t.Errorf("gpg-pubkey listed as a package")
			}
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte(ubuntuOSRelease))
	f.Add([]byte("NAME='A B'\nID=x\\ y\nPRETTY_NAME=\"q\\\"uote\"\nID_LIKE=\"rhel fedora\"\n"))
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		osr, err := ParseOSRelease(bytes.NewReader(data))
		if osr.ID == "" {
			t.Errorf("ID is empty (err %v); it defaults to linux", err)
		}
		for _, like := range osr.IDLike {
			if like == "" || strings.ContainsAny(like, " \t\n") {
				t.Errorf("bad ID_LIKE entry %q", like)
			}
		}
	})
}

// oneByteReader returns one byte per Read, to exercise the line reader's
// handling of short reads.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestParsersDoNotDependOnReadSizes(t *testing.T) {
	data := []byte(testdataFile(t, "dpkg/trivy-valid.status"))
	a, _, _ := ParseDpkgStatus(bytes.NewReader(data), "s")
	b, _, _ := ParseDpkgStatus(oneByteReader{bytes.NewReader(data)}, "s")
	if len(a) != 90 || len(a) != len(b) {
		t.Errorf("got %d and %d packages, want 90 both", len(a), len(b))
	}
}
