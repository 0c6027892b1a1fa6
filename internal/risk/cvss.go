package risk

import (
	"errors"
	"fmt"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity is a qualitative severity rating. The zero value means unknown.
type Severity string

// Severities, from most to least severe; SeverityUnknown is not ranked.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityNone     Severity = "none"
	SeverityUnknown  Severity = ""
)

// Rank orders severities: none 0, low 1, medium 2, high 3, critical 4.
// Unknown (or any other string) is -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityNone:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}

// SeverityFromScore maps a CVSS v3.x or v4.0 score to its qualitative rating:
// critical ≥ 9.0, high ≥ 7.0, medium ≥ 4.0, low ≥ 0.1, none 0. A score
// outside 0–10 (or NaN) is unknown.
func SeverityFromScore(v float64) Severity {
	switch {
	case math.IsNaN(v) || v < 0 || v > 10:
		return SeverityUnknown
	case v >= 9.0:
		return SeverityCritical
	case v >= 7.0:
		return SeverityHigh
	case v >= 4.0:
		return SeverityMedium
	case v >= 0.1:
		return SeverityLow
	}
	return SeverityNone
}

// severityFromScoreV2 is NVD's CVSS v2 scale, which has no critical and no
// none: low 0.0–3.9, medium 4.0–6.9, high 7.0–10.0.
func severityFromScoreV2(v float64) Severity {
	switch {
	case math.IsNaN(v) || v < 0 || v > 10:
		return SeverityUnknown
	case v >= 7.0:
		return SeverityHigh
	case v >= 4.0:
		return SeverityMedium
	}
	return SeverityLow
}

// SeverityFromWord maps a distro's or feed's severity word to a Severity:
// "Critical", "Important"/"High", "Moderate"/"Medium", "Low", and Ubuntu's
// "negligible" (as low). Case and surrounding space or a trailing colon are
// ignored ("Important:" is high). Anything else is unknown.
func SeverityFromWord(word string) Severity {
	w := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(word), ":"))
	switch w {
	case "critical":
		return SeverityCritical
	case "important", "high":
		return SeverityHigh
	case "moderate", "medium":
		return SeverityMedium
	case "low", "negligible":
		return SeverityLow
	case "none":
		return SeverityNone
	}
	return SeverityUnknown
}

// CVSS is a parsed CVSS vector with its base score.
type CVSS struct {
	Version   string   // "2.0", "3.0", "3.1" or "4.0"
	Vector    string   // as given, trimmed; v2 without parentheses or "CVSS:2.0/" prefix
	BaseScore float64  // 0–10, per the version's specification
	Severity  Severity // from BaseScore on the version's qualitative scale

	// Automatable approximates SSVC's Automatable decision point from the base
	// metrics: network attack vector, low complexity, no privileges, no user
	// interaction (v4: also no attack requirements, or AU:Y when the
	// supplemental Automatable metric is given; v2: AV:N/AC:L/Au:N).
	Automatable bool
	// TotalImpact approximates SSVC's Technical Impact: total when
	// confidentiality, integrity and availability impacts are all High
	// (v2: all Complete; v4: VC, VI and VA all High).
	TotalImpact bool
}

// maxVectorLen bounds the input so a hostile feed cannot make us copy huge
// strings into errors; the longest valid v4.0 vector is well under 300 bytes.
const maxVectorLen = 512

// ErrInvalidCVSS is wrapped by every error ParseCVSS returns.
var ErrInvalidCVSS = errors.New("invalid CVSS vector")

// ParseCVSS parses a CVSS v2.0, v3.0, v3.1 or v4.0 vector and computes its
// base score. A v3 vector starts with "CVSS:3.0/" or "CVSS:3.1/", a v4 vector
// with "CVSS:4.0/"; a v2 vector may be bare ("AV:N/AC:L/Au:N/C:P/I:P/A:P"),
// in parentheses, or prefixed with "CVSS:2.0/". For v4.0, BaseScore is the
// CVSS-B score: threat, environmental and supplemental metrics are ignored.
func ParseCVSS(vector string) (CVSS, error) {
	v := strings.TrimSpace(vector)
	if len(v) > maxVectorLen {
		return CVSS{}, fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidCVSS, len(v), maxVectorLen)
	}
	c, err := parseCVSS(v)
	if err != nil {
		return CVSS{}, fmt.Errorf("%w %q: %w", ErrInvalidCVSS, v, err)
	}
	if math.IsNaN(c.BaseScore) || c.BaseScore < 0 || c.BaseScore > 10 {
		return CVSS{}, fmt.Errorf("%w %q: base score %v out of range", ErrInvalidCVSS, v, c.BaseScore)
	}
	return c, nil
}

func parseCVSS(v string) (CVSS, error) {
	version := "2.0"
	if rest, ok := strings.CutPrefix(v, "CVSS:"); ok {
		ver, _, found := strings.Cut(rest, "/")
		if !found {
			return CVSS{}, errors.New("no metrics after the version")
		}
		version = ver
	}
	switch version {
	case "2.0":
		return parseV2(v)
	case "3.0":
		m, err := gocvss30.ParseVector(v)
		if err != nil {
			return CVSS{}, err
		}
		return v3(version, v, m.BaseScore(), m.Get)
	case "3.1":
		m, err := gocvss31.ParseVector(v)
		if err != nil {
			return CVSS{}, err
		}
		return v3(version, v, m.BaseScore(), m.Get)
	case "4.0":
		return parseV4(v)
	}
	return CVSS{}, fmt.Errorf("unsupported CVSS version %q (want 2.0, 3.0, 3.1 or 4.0)", version)
}

func parseV2(v string) (CVSS, error) {
	bare := strings.TrimPrefix(v, "CVSS:2.0/")
	if strings.HasPrefix(bare, "(") && strings.HasSuffix(bare, ")") {
		bare = bare[1 : len(bare)-1]
	}
	if !strings.HasPrefix(bare, "AV:") {
		return CVSS{}, errors.New("not a CVSS vector: want a CVSS:3.x/ or CVSS:4.0/ prefix, or a v2 vector such as AV:N/AC:L/Au:N/C:P/I:P/A:P")
	}
	m, err := gocvss20.ParseVector(bare)
	if err != nil {
		return CVSS{}, err
	}
	g := metrics(m.Get)
	score := m.BaseScore()
	return CVSS{
		Version:     "2.0",
		Vector:      bare,
		BaseScore:   score,
		Severity:    severityFromScoreV2(score),
		Automatable: g("AV") == "N" && g("AC") == "L" && g("Au") == "N",
		TotalImpact: g("C") == "C" && g("I") == "C" && g("A") == "C",
	}, nil
}

func v3(version, v string, score float64, get func(string) (string, error)) (CVSS, error) {
	g := metrics(get)
	return CVSS{
		Version:     version,
		Vector:      v,
		BaseScore:   score,
		Severity:    SeverityFromScore(score),
		Automatable: g("AV") == "N" && g("AC") == "L" && g("PR") == "N" && g("UI") == "N",
		TotalImpact: g("C") == "H" && g("I") == "H" && g("A") == "H",
	}, nil
}

// v4Base lists the CVSS v4.0 base metrics in vector order.
var v4Base = []string{"AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"}

func parseV4(v string) (CVSS, error) {
	m, err := gocvss40.ParseVector(v)
	if err != nil {
		return CVSS{}, err
	}
	g := metrics(m.Get)
	// The library scores whatever metrics the vector carries (CVSS-BTE);
	// rebuild a base-only vector so BaseScore is CVSS-B as documented.
	var b strings.Builder
	b.WriteString("CVSS:4.0")
	for _, abv := range v4Base {
		b.WriteString("/" + abv + ":" + g(abv))
	}
	base, err := gocvss40.ParseVector(b.String())
	if err != nil {
		return CVSS{}, fmt.Errorf("base metrics: %w", err)
	}
	score := base.Score()
	auto := g("AV") == "N" && g("AC") == "L" && g("AT") == "N" && g("PR") == "N" && g("UI") == "N"
	switch g("AU") {
	case "Y":
		auto = true
	case "N":
		auto = false
	}
	return CVSS{
		Version:     "4.0",
		Vector:      v,
		BaseScore:   score,
		Severity:    SeverityFromScore(score),
		Automatable: auto,
		TotalImpact: g("VC") == "H" && g("VI") == "H" && g("VA") == "H",
	}, nil
}

// metrics adapts a library Get method to return "" for absent metrics.
func metrics(get func(string) (string, error)) func(string) string {
	return func(abv string) string {
		s, err := get(abv)
		if err != nil {
			return ""
		}
		return s
	}
}

// versionRank orders CVSS versions so the newest parsable vector wins.
func versionRank(version string) int {
	switch version {
	case "2.0":
		return 1
	case "3.0":
		return 2
	case "3.1":
		return 3
	case "4.0":
		return 4
	}
	return 0
}
