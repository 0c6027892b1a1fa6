package risk

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// osvVectors returns every CVSS vector in the "severity" arrays of the OSV
// records in testdata, wherever they sit in the record.
func osvVectors(t testing.TB) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no OSV records in testdata: %v", err)
	}
	found := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(any)
		walk = func(n any) {
			switch n := n.(type) {
			case map[string]any:
				if sev, ok := n["severity"].([]any); ok {
					for _, s := range sev {
						m, _ := s.(map[string]any)
						typ, _ := m["type"].(string)
						score, _ := m["score"].(string)
						if strings.HasPrefix(typ, "CVSS_") {
							found[score] = append(found[score], filepath.Base(f))
						}
					}
				}
				for _, v := range n {
					walk(v)
				}
			case []any:
				for _, v := range n {
					walk(v)
				}
			}
		}
		walk(doc)
	}
	return found
}

func TestParseCVSSScoresTheVectorsInRealUbuntuRecords(t *testing.T) {
	// Base scores as NVD publishes them for these CVEs.
	want := map[string]struct {
		score float64
		sev   Severity
	}{
		// CVE-2016-2781 (coreutils chroot --userspec).
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N": {6.5, SeverityMedium},
		// CVE-2022-41409 (pcre2test), CVE-2022-4899 (zstd).
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H": {7.5, SeverityHigh},
		// CVE-2025-6297 (dpkg-deb).
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N": {8.2, SeverityHigh},
	}
	found := osvVectors(t)
	if len(found) == 0 {
		t.Fatal("found no CVSS vectors in testdata")
	}
	for vec, files := range found {
		w, ok := want[vec]
		if !ok {
			t.Errorf("vector %s in %v has no expected score in this test", vec, files)
			continue
		}
		c, err := ParseCVSS(vec)
		if err != nil {
			t.Errorf("ParseCVSS(%s) from %v: %v", vec, files, err)
			continue
		}
		if c.BaseScore != w.score || c.Severity != w.sev {
			t.Errorf("ParseCVSS(%s) = %.1f %s, want %.1f %s", vec, c.BaseScore, c.Severity, w.score, w.sev)
		}
	}
	for vec := range want {
		if _, ok := found[vec]; !ok {
			t.Errorf("expected vector %s is no longer in testdata", vec)
		}
	}
}

// roundup is CVSS v3.1's Roundup (specification appendix A).
func roundup(x float64) float64 {
	i := int(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return (math.Floor(float64(i)/10000) + 1) / 10
}

func TestParseCVSSAgreesWithTheSpecificationFormulaByHand(t *testing.T) {
	// CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H, scope unchanged, using the
	// metric weights of the v3.1 specification, section 7.4.
	const (
		av, ac, pr, ui = 0.85, 0.77, 0.85, 0.85
		c, i, a        = 0.0, 0.0, 0.56
	)
	iss := 1 - (1-c)*(1-i)*(1-a)
	impact := 6.42 * iss
	exploitability := 8.22 * av * ac * pr * ui
	base := roundup(math.Min(impact+exploitability, 10))
	if base != 7.5 {
		t.Fatalf("hand computation gives %v; NVD says 7.5", base)
	}
	got, err := ParseCVSS("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseScore != base {
		t.Errorf("library base score %v, hand computation %v", got.BaseScore, base)
	}
}

func TestParseCVSSReadsEveryVersion(t *testing.T) {
	tests := []struct {
		name, vector, version string
		score                 float64
		sev                   Severity
		auto, total           bool
	}{
		{"v2 bare", "AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10.0, SeverityHigh, true, true},
		{"v2 in parentheses", "(AV:N/AC:L/Au:N/C:P/I:P/A:P)", "2.0", 7.5, SeverityHigh, true, false},
		{"v2 with prefix", "CVSS:2.0/AV:N/AC:M/Au:N/C:N/I:P/A:N", "2.0", 4.3, SeverityMedium, false, false},
		{"v2 low", "AV:L/AC:H/Au:N/C:P/I:N/A:N", "2.0", 1.2, SeverityLow, false, false},
		{"v2 with temporal metrics", "AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C", "2.0", 7.8, SeverityHigh, true, false},
		{"v3.0", "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N", "3.0", 6.5, SeverityMedium, false, false},
		{"v3.1 critical", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, SeverityCritical, true, true},
		{"v3.1 needing user interaction", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "3.1", 8.8, SeverityHigh, false, true},
		{"v3.1 no impact", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", 0, SeverityNone, true, false},
		{"v3.1 with temporal metrics", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C", "3.1", 9.8, SeverityCritical, true, true},
		{"v4.0 critical", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, SeverityCritical, true, true},
		{"v4.0 local", "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 8.5, SeverityHigh, false, true},
		{"v4.0 threat metric ignored for the base score", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", "4.0", 9.3, SeverityCritical, true, true},
		{"v4.0 supplemental AU:N overrides", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/AU:N", "4.0", 9.3, SeverityCritical, false, true},
		{"surrounding space", "  CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\n", "3.1", 7.5, SeverityHigh, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCVSS(tt.vector)
			if err != nil {
				t.Fatal(err)
			}
			if c.Version != tt.version || c.BaseScore != tt.score || c.Severity != tt.sev ||
				c.Automatable != tt.auto || c.TotalImpact != tt.total {
				t.Errorf("got %+v, want version %s score %.1f %s automatable %v total %v",
					c, tt.version, tt.score, tt.sev, tt.auto, tt.total)
			}
			if strings.ContainsAny(c.Vector, "() \n") || strings.HasPrefix(c.Vector, "CVSS:2.0/") {
				t.Errorf("Vector %q is not normalized", c.Vector)
			}
		})
	}
}

func TestParseCVSSRejectsInvalidVectors(t *testing.T) {
	for _, v := range []string{
		"",
		"garbage",
		"CVSS:3.1",
		"CVSS:3.1/",
		"CVSS:3.1/AV:N", // missing base metrics
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",          // bad value
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N",     // repeated metric
		"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1",     // unknown metric
		"CVSS:5.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",          // unknown version
		"CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", // v4 without AT and SA
		"CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
		"AV:N/AC:L/Au:N/C:C/I:C",      // v2 too short
		"AV:N/AC:L/Au:N/C:C/I:C/A:Q",  // v2 bad value
		"(AV:N/AC:L/Au:N/C:C/I:C/A:C", // unbalanced parenthesis
		"CVSS:2.0/(AV:N/AC:L/Au:N/C:C/I:C/A:C)/x",
		"cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/" + strings.Repeat("AV:N/", 200),
	} {
		c, err := ParseCVSS(v)
		if err == nil {
			t.Errorf("ParseCVSS(%q) = %+v, want an error", v, c)
			continue
		}
		if !errors.Is(err, ErrInvalidCVSS) {
			t.Errorf("ParseCVSS(%q) error %v does not wrap ErrInvalidCVSS", v, err)
		}
		if len(err.Error()) > 2*maxVectorLen {
			t.Errorf("ParseCVSS(%q) error is %d bytes long", v[:20], len(err.Error()))
		}
	}
}

func TestSeverityFromScoreUsesTheV3Bands(t *testing.T) {
	for _, tt := range []struct {
		score float64
		want  Severity
	}{
		{0, SeverityNone}, {0.1, SeverityLow}, {3.9, SeverityLow}, {4.0, SeverityMedium},
		{6.9, SeverityMedium}, {7.0, SeverityHigh}, {8.9, SeverityHigh}, {9.0, SeverityCritical},
		{10, SeverityCritical}, {-1, SeverityUnknown}, {10.1, SeverityUnknown}, {math.NaN(), SeverityUnknown},
	} {
		if got := SeverityFromScore(tt.score); got != tt.want {
			t.Errorf("SeverityFromScore(%v) = %q, want %q", tt.score, got, tt.want)
		}
	}
	for _, tt := range []struct {
		score float64
		want  Severity
	}{{0, SeverityLow}, {3.9, SeverityLow}, {4.0, SeverityMedium}, {6.9, SeverityMedium}, {7.0, SeverityHigh}, {10, SeverityHigh}} {
		if got := severityFromScoreV2(tt.score); got != tt.want {
			t.Errorf("severityFromScoreV2(%v) = %q, want %q", tt.score, got, tt.want)
		}
	}
}

func TestSeverityFromWordReadsDistroWords(t *testing.T) {
	for word, want := range map[string]Severity{
		"Critical": SeverityCritical, "Important:": SeverityHigh, "HIGH": SeverityHigh,
		"Moderate": SeverityMedium, "medium": SeverityMedium, " Low ": SeverityLow,
		"negligible": SeverityLow, "none": SeverityNone, "untriaged": SeverityUnknown, "": SeverityUnknown,
	} {
		if got := SeverityFromWord(word); got != want {
			t.Errorf("SeverityFromWord(%q) = %q, want %q", word, got, want)
		}
	}
}

func FuzzParseCVSS(f *testing.F) {
	for vec := range osvVectors(f) {
		f.Add(vec)
	}
	for _, s := range []string{
		"AV:N/AC:L/Au:N/C:C/I:C/A:C",
		"(AV:N/AC:L/Au:N/C:P/I:P/A:P)",
		"CVSS:2.0/AV:N/AC:M/Au:N/C:N/I:P/A:N/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:H/IR:H/AR:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C/CR:H/IR:H/AR:H/MAV:N",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/CR:H/AU:Y",
		"CVSS:4.0/AV:N",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, vector string) {
		c, err := ParseCVSS(vector)
		if err != nil {
			if !errors.Is(err, ErrInvalidCVSS) {
				t.Fatalf("error %v does not wrap ErrInvalidCVSS", err)
			}
			return
		}
		if versionRank(c.Version) == 0 {
			t.Fatalf("unknown version %q", c.Version)
		}
		if !(c.BaseScore >= 0 && c.BaseScore <= 10) {
			t.Fatalf("base score %v out of range", c.BaseScore)
		}
		if c.Severity.Rank() < 0 {
			t.Fatalf("severity %q unranked for score %v", c.Severity, c.BaseScore)
		}
		again, err := ParseCVSS(c.Vector)
		if err != nil || again != c {
			t.Fatalf("re-parsing %q: %+v, %v; first parse %+v", c.Vector, again, err, c)
		}
	})
}
