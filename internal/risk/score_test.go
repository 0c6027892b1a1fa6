package risk

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

const (
	critical98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"                    // 9.8
	medium65   = "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N"                    // 6.5
	high75     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"                    // 7.5
	v2high75   = "AV:N/AC:L/Au:N/C:P/I:P/A:P"                                      // 7.5
	v4crit93   = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" // 9.3
)

func TestScoreRanksAKEVCriticalOnAnExposedHostAboveAQuietMediumOnAMinorOne(t *testing.T) {
	urgent := Score(Input{CVSS: []string{critical98}, KEV: true, EPSS: 0.94, EPSSPercentile: 0.99,
		Criticality: 5, InternetFacing: true, FixAvailable: true})
	quiet := Score(Input{CVSS: []string{medium65}, EPSS: 0.0004, EPSSPercentile: 0.1,
		Criticality: 1, FixAvailable: true})
	if urgent.Priority <= quiet.Priority {
		t.Fatalf("KEV critical %.1f not above quiet medium %.1f", urgent.Priority, quiet.Priority)
	}
	if urgent.SSVC != Act || quiet.SSVC != Track {
		t.Errorf("SSVC %s and %s, want Act and Track", urgent.SSVC, quiet.SSVC)
	}
}

func TestScoreExplainsEveryFactor(t *testing.T) {
	r := Score(Input{CVSS: []string{"not a vector", critical98}, KEV: true, Ransomware: true,
		EPSS: 0.94, EPSSPercentile: 0.972, Criticality: 5, InternetFacing: true, FixAvailable: true})
	want := []string{
		`ignored invalid CVSS vector "not a vector": not a CVSS vector: want a CVSS:3.x/ or CVSS:4.0/ prefix, or a v2 vector such as AV:N/AC:L/Au:N/C:P/I:P/A:P`,
		"CVSS 3.1 base 9.8 (critical): +39.2",
		"in CISA KEV: +25",
		"known ransomware campaign use: +5",
		"EPSS 0.94 (97th percentile): +19.4",
		"fix available in the host's repositories: +10",
		"host criticality 5/5 ×1",
		"internet-facing ×1",
		"priority 98.6 × 1 × 1 = 98.6",
	}
	if !reflect.DeepEqual(r.Reasons, want) {
		t.Errorf("reasons:\n%q\nwant:\n%q", r.Reasons, want)
	}
	if r.Priority != 98.6 || r.Severity != SeverityCritical || r.CVSS == nil || r.CVSS.Vector != critical98 {
		t.Errorf("got priority %.1f severity %s cvss %+v", r.Priority, r.Severity, r.CVSS)
	}

	r = Score(Input{FeedSeverity: SeverityHigh, EPSS: -1, EPSSPercentile: -1})
	want = []string{
		"no CVSS, distro severity high (counted as 8.0): +32",
		"not in CISA KEV: +0",
		"EPSS unknown: +0",
		"no fix in the host's repositories yet: +0",
		"host criticality unset, counted as 3/5 ×0.8",
		"not internet-facing ×0.8",
		"priority 32 × 0.8 × 0.8 = 20.5",
	}
	if !reflect.DeepEqual(r.Reasons, want) {
		t.Errorf("reasons:\n%q\nwant:\n%q", r.Reasons, want)
	}
	if r.Priority != 20.5 || r.Severity != SeverityHigh || r.CVSS != nil {
		t.Errorf("got priority %.1f severity %s cvss %+v", r.Priority, r.Severity, r.CVSS)
	}
}

func TestScorePicksTheNewestParsableVector(t *testing.T) {
	tests := []struct {
		name    string
		vectors []string
		want    string
	}{
		{"v4 over v3 even with a lower score", []string{critical98, v4crit93, v2high75}, v4crit93},
		{"v3.1 over v2", []string{v2high75, high75}, high75},
		{"v3.1 over v3.0", []string{medium65, high75}, high75},
		{"the higher score among one version", []string{high75, critical98}, critical98},
		{"a broken v4 falls back to v3", []string{"CVSS:4.0/AV:N", high75}, high75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(Input{CVSS: tt.vectors, EPSS: -1})
			if r.CVSS == nil || r.CVSS.Vector != tt.want {
				t.Errorf("picked %+v, want %s", r.CVSS, tt.want)
			}
		})
	}
}

func TestScoreCountsUnknownSeverityAsMedium(t *testing.T) {
	unknown := Score(Input{FeedSeverity: "untriaged", EPSS: -1})
	medium := Score(Input{FeedSeverity: SeverityMedium, EPSS: -1})
	if unknown.Priority != medium.Priority || unknown.Severity != SeverityUnknown {
		t.Errorf("unknown %.1f (%q), medium %.1f", unknown.Priority, unknown.Severity, medium.Priority)
	}
}

// vectorsByScore are real vectors in increasing base score, all v3.1 so that
// the version preference does not interfere.
var vectorsByScore = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", // 0
	"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", // 1.6
	"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", // 3.3
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", // 5.4
	high75,
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N", // 8.2
	critical98,
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", // 10
}

var severitiesByRank = []Severity{SeverityNone, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

func randomInput(r *rand.Rand) Input {
	in := Input{
		KEV:            r.IntN(2) == 0,
		Ransomware:     r.IntN(4) == 0,
		EPSS:           r.Float64(),
		EPSSPercentile: r.Float64(),
		Criticality:    r.IntN(6), // 0 is unset
		InternetFacing: r.IntN(2) == 0,
		FixAvailable:   r.IntN(2) == 0,
	}
	if r.IntN(5) == 0 {
		in.EPSS = -1
	}
	if r.IntN(3) == 0 {
		in.FeedSeverity = severitiesByRank[r.IntN(len(severitiesByRank))]
	} else {
		in.CVSS = []string{vectorsByScore[r.IntN(len(vectorsByScore))]}
	}
	return in
}

// raise returns copies of in with exactly one risk factor made worse.
func raise(r *rand.Rand, in Input) map[string]Input {
	out := map[string]Input{}
	set := func(name string, f func(*Input)) {
		c := in
		c.CVSS = append([]string(nil), in.CVSS...)
		f(&c)
		out[name] = c
	}
	set("KEV", func(c *Input) { c.KEV = true })
	set("ransomware", func(c *Input) { c.Ransomware = true })
	set("EPSS", func(c *Input) { c.EPSS = max(c.EPSS, 0) + r.Float64()*(1-max(c.EPSS, 0)) })
	set("EPSS percentile", func(c *Input) { c.EPSSPercentile = max(c.EPSSPercentile, 0) + r.Float64()*(1-max(c.EPSSPercentile, 0)) })
	set("internet-facing", func(c *Input) { c.InternetFacing = true })
	set("fix available", func(c *Input) { c.FixAvailable = true })
	set("criticality", func(c *Input) {
		crit := c.Criticality
		if crit == 0 {
			crit = defaultCrit
		}
		c.Criticality = min(crit+1+r.IntN(2), 5)
	})
	if len(in.CVSS) == 1 {
		set("CVSS score", func(c *Input) {
			for i, v := range vectorsByScore {
				if v == c.CVSS[0] {
					c.CVSS[0] = vectorsByScore[i+r.IntN(len(vectorsByScore)-i)]
				}
			}
		})
	} else {
		set("feed severity", func(c *Input) {
			rank := c.FeedSeverity.Rank()
			c.FeedSeverity = severitiesByRank[rank+r.IntN(len(severitiesByRank)-rank)]
		})
	}
	return out
}

func TestScoreIsMonotoneAndBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		in := randomInput(r)
		base := Score(in)
		if base.Priority < 0 || base.Priority > 100 {
			t.Fatalf("case %d: priority %.1f out of bounds for %+v", i, base.Priority, in)
		}
		for factor, worse := range raise(r, in) {
			if got := Score(worse); got.Priority < base.Priority {
				t.Fatalf("case %d: raising %s lowered priority from %.1f to %.1f\nbefore %+v\nafter  %+v\n%q\n%q",
					i, factor, base.Priority, got.Priority, in, worse, base.Reasons, got.Reasons)
			}
		}
	}
	for i := 1; i < len(vectorsByScore); i++ {
		c, err1 := ParseCVSS(vectorsByScore[i])
		prev, err2 := ParseCVSS(vectorsByScore[i-1])
		if err1 != nil || err2 != nil || c.BaseScore <= prev.BaseScore {
			t.Fatalf("vectorsByScore is not in increasing order at %s (%v, %v)", vectorsByScore[i], err1, err2)
		}
	}
}

func TestScoreReachesItsBoundsAtTheExtremes(t *testing.T) {
	top := Score(Input{CVSS: []string{vectorsByScore[len(vectorsByScore)-1]}, KEV: true, Ransomware: true,
		EPSS: 1, EPSSPercentile: 1, Criticality: 5, InternetFacing: true, FixAvailable: true})
	bottom := Score(Input{CVSS: []string{vectorsByScore[0]}, EPSS: 0, Criticality: 1})
	if top.Priority != 100 || bottom.Priority != 0 {
		t.Errorf("extremes %.1f and %.1f, want 100 and 0", top.Priority, bottom.Priority)
	}
	odd := Score(Input{FeedSeverity: SeverityLow, EPSS: 7, EPSSPercentile: 3, Criticality: 99})
	if odd.Priority < 0 || odd.Priority > 100 {
		t.Errorf("out-of-range inputs give priority %.1f", odd.Priority)
	}
}
