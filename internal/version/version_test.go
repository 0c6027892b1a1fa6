package version

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type comparison struct {
	line int
	a, b string
	want int
}

// readComparisons reads a file of "a < b", "a = b" and "a > b" lines,
// skipping blank lines and lines starting with '#'.
func readComparisons(t testing.TB, name string) []comparison {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []comparison
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("%s:%d: want \"a OP b\", got %q", name, n, line)
		}
		want, ok := map[string]int{"<": -1, "=": 0, ">": 1}[fields[1]]
		if !ok {
			t.Fatalf("%s:%d: unknown operator %q", name, n, fields[1])
		}
		out = append(out, comparison{n, fields[0], fields[2], want})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompareAgreesWithEveryReferenceLine(t *testing.T) {
	files := []struct {
		name string
		eco  Ecosystem
	}{
		{"debian-versions.txt", Dpkg},
		{"redhat-versions.txt", RPM},
		{"alpine-versions.txt", Apk},
	}
	for _, f := range files {
		t.Run(string(f.eco), func(t *testing.T) {
			cs := readComparisons(t, f.name)
			if len(cs) == 0 {
				t.Fatalf("%s has no comparisons", f.name)
			}
			for _, c := range cs {
				got, err := Compare(f.eco, c.a, c.b)
				if err != nil {
					t.Errorf("%s:%d: Compare(%q, %q): %v", f.name, c.line, c.a, c.b, err)
					continue
				}
				if got != c.want {
					t.Errorf("%s:%d: Compare(%q, %q) = %d, want %d", f.name, c.line, c.a, c.b, got, c.want)
				}
				if back, _ := Compare(f.eco, c.b, c.a); back != -c.want {
					t.Errorf("%s:%d: Compare(%q, %q) = %d, want %d", f.name, c.line, c.b, c.a, back, -c.want)
				}
			}
			t.Logf("%s: %d comparisons agree", f.name, len(cs))
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		eco  Ecosystem
		a, b string
		want int
	}{
		{"an rpm epoch outweighs the version", RPM, "1:1.0-1.el9", "2.0-1.el9", 1},
		{"a missing rpm epoch is zero", RPM, "0:2.4.21-9.el8", "2.4.21-9.el8", 0},
		{"an rpm epoch larger than any integer still orders", RPM, "99999999999999999999999:1", "99999999999999999999998:2", 1},
		{"an AlmaLinux module release orders by its numbers", RPM, "8.0.30-1.module_el8.9.0+3637+0a5d4e30", "8.0.32-1.module_el8.9.0+3637+0a5d4e30", -1},
		{"a dpkg tilde sorts before the release", Dpkg, "1.0~rc1-1", "1.0-1", -1},
		{"an ubuntu security revision is newer", Dpkg, "1.21.1ubuntu2.3", "1.21.1ubuntu2.6", -1},
		{"a dpkg epoch outweighs the version", Dpkg, "1:8.32-4.1ubuntu1", "9.0-1", 1},
		{"an apk revision counts", Apk, "7.53.0-r0", "7.53.0", 1},
		{"an apk rc is before the release", Apk, "1.2.3_rc1-r0", "1.2.3-r0", -1},
		{"an apk alpha of x.0 is before x.0", Apk, "1.0_alpha", "1.0", -1},
		{"an apk rc of x.0 is before a fix without revision", Apk, "7.0_rc1-r0", "7.0", -1},
		{"generic numbers compare numerically", Generic, "1.10", "1.9", 1},
		{"generic leading zeros do not matter", Generic, "1.010", "1.10", 0},
		{"generic text compares bytewise", Generic, "1.0a", "1.0b", -1},
		{"generic number is after text", Generic, "1.0.1", "1.0.a", 1},
		{"generic longer wins", Generic, "1.0", "1.0.1", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.eco, tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Compare(%s, %q, %q) = %d, want %d", tt.eco, tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestCompareRejectsUnparsableVersions(t *testing.T) {
	tests := []struct {
		name string
		eco  Ecosystem
		v    string
	}{
		{"an empty version", Dpkg, ""},
		{"a dpkg version starting with a letter", Dpkg, "abc"},
		{"a dpkg version with a negative epoch", Dpkg, "-1:1.0"},
		{"a dpkg version with non-ASCII letters", Dpkg, "1.0é"},
		{"a dpkg version with a huge number", Dpkg, "1.1234567890123456789012"},
		{"an apk version with non-ASCII digits", Apk, "1.٣"},
		{"an apk version with non-ASCII letters", Apk, "1.0é"},
		{"an rpm version with a space", RPM, "1.0 -1"},
		{"an rpm version with a control character", RPM, "1.0\x00"},
		{"an rpm version that is not UTF-8", RPM, "1.0\xff"},
		{"a version longer than MaxLen", RPM, strings.Repeat("1", MaxLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if Valid(tt.eco, tt.v) {
				t.Errorf("Valid(%s, %q) = true", tt.eco, tt.v)
			}
			_, err := Compare(tt.eco, "1", tt.v)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Compare: err = %v, want ErrInvalid", err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Version != tt.v {
				t.Errorf("error %v does not name the version %q", err, tt.v)
			}
		})
	}
}

func TestCompareRejectsUnknownEcosystem(t *testing.T) {
	_, err := Compare("semver", "1.0.0", "1.0.1")
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want an unknown-ecosystem error", err)
	}
	if Valid("semver", "1.0.0") {
		t.Error("Valid accepted an unknown ecosystem")
	}
}

func FuzzCompare(f *testing.F) {
	for _, file := range []string{"debian-versions.txt", "redhat-versions.txt", "alpine-versions.txt"} {
		for i, c := range readComparisons(f, file) {
			f.Add(i%4, c.a, c.b)
		}
	}
	ecos := []Ecosystem{Dpkg, RPM, Apk, Generic}
	f.Fuzz(func(t *testing.T, n int, a, b string) {
		eco := ecos[uint(n)%uint(len(ecos))]
		ab, errAB := Compare(eco, a, b)
		ba, errBA := Compare(eco, b, a)
		if (errAB == nil) != (errBA == nil) {
			t.Fatalf("%s: errors differ: %v / %v", eco, errAB, errBA)
		}
		if errAB != nil {
			return
		}
		if ab != -ba {
			t.Fatalf("%s: Compare(%q, %q) = %d but Compare(%q, %q) = %d", eco, a, b, ab, b, a, ba)
		}
		if aa, err := Compare(eco, a, a); err != nil || aa != 0 {
			t.Fatalf("%s: Compare(%q, itself) = %d, %v", eco, a, aa, err)
		}
		if eco == Apk && libraryApk(a) && libraryApk(b) {
			if loose := sign(compareApkLoose(a, b)); loose != ab {
				t.Fatalf("apk: Compare(%q, %q) = %d but the loose rules say %d", a, b, ab, loose)
			}
		}
	})
}

func benchmarkCompare(b *testing.B, eco Ecosystem, file string) {
	cs := readComparisons(b, file)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := cs[i%len(cs)]
		if _, err := Compare(eco, c.a, c.b); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareDpkg(b *testing.B) { benchmarkCompare(b, Dpkg, "debian-versions.txt") }
func BenchmarkCompareRPM(b *testing.B)  { benchmarkCompare(b, RPM, "redhat-versions.txt") }
func BenchmarkCompareApk(b *testing.B)  { benchmarkCompare(b, Apk, "alpine-versions.txt") }

// The loose apk rules must agree with the library wherever both apply, so
// that mixing them (one version malformed, one not) stays consistent.
func TestApkLooseRulesAgreeWithTheLibraryOnWellFormedVersions(t *testing.T) {
	n := 0
	for _, c := range readComparisons(t, "alpine-versions.txt") {
		if !libraryApk(c.a) || !libraryApk(c.b) {
			continue
		}
		n++
		if got := sign(compareApkLoose(c.a, c.b)); got != c.want {
			t.Errorf("line %d: compareApkLoose(%q, %q) = %d, want %d", c.line, c.a, c.b, got, c.want)
		}
	}
	if n < 700 {
		t.Errorf("only %d well-formed pairs", n)
	}
}
