package risk

import (
	"fmt"
	"math"
	"strconv"
)

// Input is everything Score knows about one finding on one host.
type Input struct {
	// CVSS holds the advisory's vectors, any versions. Score uses the
	// parsable one of the newest version (the highest base score among
	// equals) and reports unparsable ones in Reasons.
	CVSS []string
	// FeedSeverity is the distro's severity (see SeverityFromWord), used only
	// when no vector parses.
	FeedSeverity Severity

	KEV        bool // listed in CISA's Known Exploited Vulnerabilities catalog
	Ransomware bool // KEV says it is known to be used in ransomware campaigns

	// EPSS is the FIRST EPSS probability (0–1) and EPSSPercentile its
	// percentile (0–1); each is negative when unknown.
	EPSS, EPSSPercentile float64

	Criticality    int  // host criticality 1–5; 0 means unset and counts as 3
	InternetFacing bool // the host is reachable from the internet
	FixAvailable   bool // the fixed version is in the host's repositories
}

// Result is a priority with its explanation and an SSVC decision.
type Result struct {
	Priority   float64        // 0–100, one decimal
	Severity   Severity       // effective severity: the chosen vector's, else FeedSeverity
	CVSS       *CVSS          // the vector used, nil when none parsed
	SSVC       Decision       // CISA SSVC decision
	SSVCPoints DecisionPoints // the decision points behind SSVC
	Reasons    []string       // one line per factor, in the order they apply
}

// Weights of the priority formula; docs/risk.md explains them. The points
// add up to at most 100, and each context factor is at most 1.
const (
	pointsPerCVSS    = 4.0  // × base score 0–10: up to 40
	pointsKEV        = 25.0 // in CISA KEV
	pointsRansomware = 5.0  // known ransomware use
	pointsEPSS       = 20.0 // × √(EPSS probability): up to 20
	pointsFix        = 10.0 // a fix can be installed now

	factorInternal = 0.8 // not internet-facing
	defaultCrit    = 3
)

// critFactor weighs host criticality 1–5.
var critFactor = [6]float64{1: 0.6, 2: 0.7, 3: 0.8, 4: 0.9, 5: 1.0}

// severityScore stands in for a CVSS score when only a severity word is
// known: the middle of each band. Unknown counts as medium, so missing data
// never hides a finding below a known low.
var severityScore = map[Severity]float64{
	SeverityCritical: 9.5,
	SeverityHigh:     8.0,
	SeverityMedium:   5.5,
	SeverityLow:      2.0,
	SeverityNone:     0,
	SeverityUnknown:  5.5,
}

// Score computes the priority, effective severity and SSVC decision of one
// finding:
//
//	points   = 4×CVSS + 25×KEV + 5×ransomware + 20×√EPSS + 10×fix   (0–100)
//	priority = points × criticality factor (0.6–1.0) × exposure factor (0.8 or 1.0)
func Score(in Input) Result {
	var r Result
	r.CVSS = pickCVSS(in.CVSS, &r.Reasons)

	var points float64
	if c := r.CVSS; c != nil {
		r.Severity = c.Severity
		p := pointsPerCVSS * c.BaseScore
		points += p
		r.Reasons = append(r.Reasons, fmt.Sprintf("CVSS %s base %.1f (%s): +%s", c.Version, c.BaseScore, c.Severity, num(p)))
	} else {
		r.Severity = in.FeedSeverity
		score, ok := severityScore[in.FeedSeverity]
		if !ok {
			score = severityScore[SeverityUnknown]
		}
		p := pointsPerCVSS * score
		points += p
		if in.FeedSeverity.Rank() < 0 {
			r.Severity = SeverityUnknown
			r.Reasons = append(r.Reasons, fmt.Sprintf("no CVSS, severity unknown (counted as medium, %.1f): +%s", score, num(p)))
		} else {
			r.Reasons = append(r.Reasons, fmt.Sprintf("no CVSS, distro severity %s (counted as %.1f): +%s", in.FeedSeverity, score, num(p)))
		}
	}

	if in.KEV {
		points += pointsKEV
		r.Reasons = append(r.Reasons, "in CISA KEV: +"+num(pointsKEV))
	} else {
		r.Reasons = append(r.Reasons, "not in CISA KEV: +0")
	}
	if in.Ransomware {
		points += pointsRansomware
		r.Reasons = append(r.Reasons, "known ransomware campaign use: +"+num(pointsRansomware))
	}

	if epss, ok := probability(in.EPSS); ok {
		p := pointsEPSS * math.Sqrt(epss)
		points += p
		label := fmt.Sprintf("EPSS %.3g", epss)
		if pct, ok := probability(in.EPSSPercentile); ok {
			label += " (" + ordinal(int(math.Floor(pct*100))) + " percentile)"
		}
		r.Reasons = append(r.Reasons, label+": +"+num(p))
	} else {
		r.Reasons = append(r.Reasons, "EPSS unknown: +0")
	}

	if in.FixAvailable {
		points += pointsFix
		r.Reasons = append(r.Reasons, "fix available in the host's repositories: +"+num(pointsFix))
	} else {
		r.Reasons = append(r.Reasons, "no fix in the host's repositories yet: +0")
	}

	crit := in.Criticality
	switch {
	case crit == 0:
		crit = defaultCrit
		r.Reasons = append(r.Reasons, fmt.Sprintf("host criticality unset, counted as %d/5 ×%s", crit, num(critFactor[crit])))
	case crit < 1 || crit > 5:
		crit = min(max(crit, 1), 5)
		r.Reasons = append(r.Reasons, fmt.Sprintf("host criticality %d out of range, counted as %d/5 ×%s", in.Criticality, crit, num(critFactor[crit])))
	default:
		r.Reasons = append(r.Reasons, fmt.Sprintf("host criticality %d/5 ×%s", crit, num(critFactor[crit])))
	}
	exposure := 1.0
	if in.InternetFacing {
		r.Reasons = append(r.Reasons, "internet-facing ×1")
	} else {
		exposure = factorInternal
		r.Reasons = append(r.Reasons, "not internet-facing ×"+num(factorInternal))
	}

	r.Priority = math.Round(points*critFactor[crit]*exposure*10) / 10
	r.Reasons = append(r.Reasons, fmt.Sprintf("priority %s × %s × %s = %s",
		num(points), num(critFactor[crit]), num(exposure), num(r.Priority)))

	r.SSVCPoints = decisionPoints(in, r.CVSS, crit)
	r.SSVC = Decide(r.SSVCPoints)
	return r
}

// pickCVSS returns the parsable vector of the newest version, the highest
// base score among those, and notes every vector it could not parse.
func pickCVSS(vectors []string, reasons *[]string) *CVSS {
	var best *CVSS
	for _, v := range vectors {
		c, err := ParseCVSS(v)
		if err != nil {
			*reasons = append(*reasons, "ignored "+err.Error())
			continue
		}
		if best == nil || versionRank(c.Version) > versionRank(best.Version) ||
			versionRank(c.Version) == versionRank(best.Version) && c.BaseScore > best.BaseScore {
			best = &c
		}
	}
	return best
}

// probability clamps a known probability into [0, 1]; negative or NaN is
// unknown.
func probability(p float64) (float64, bool) {
	if math.IsNaN(p) || p < 0 {
		return 0, false
	}
	return min(p, 1), true
}

// num formats points and factors with at most one decimal, dropping
// trailing zeros.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}
