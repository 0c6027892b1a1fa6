package risk

import (
	"strings"
	"testing"
)

// cisaTree is the CISA SSVC tree as published, one line per leaf:
// exploitation, automatable, technical impact, mission & well-being, decision.
const cisaTree = `
none,no,partial,low,Track
none,no,partial,medium,Track
none,no,partial,high,Track
none,no,total,low,Track
none,no,total,medium,Track
none,no,total,high,Track*
none,yes,partial,low,Track
none,yes,partial,medium,Track
none,yes,partial,high,Attend
none,yes,total,low,Track
none,yes,total,medium,Track
none,yes,total,high,Attend
poc,no,partial,low,Track
poc,no,partial,medium,Track
poc,no,partial,high,Track*
poc,no,total,low,Track
poc,no,total,medium,Track*
poc,no,total,high,Attend
poc,yes,partial,low,Track
poc,yes,partial,medium,Track
poc,yes,partial,high,Attend
poc,yes,total,low,Track
poc,yes,total,medium,Track*
poc,yes,total,high,Attend
active,no,partial,low,Track
active,no,partial,medium,Track
active,no,partial,high,Attend
active,no,total,low,Track
active,no,total,medium,Attend
active,no,total,high,Act
active,yes,partial,low,Attend
active,yes,partial,medium,Attend
active,yes,partial,high,Act
active,yes,total,low,Attend
active,yes,total,medium,Act
active,yes,total,high,Act
`

func TestDecideFollowsEveryLeafOfTheCISATree(t *testing.T) {
	lines := strings.Fields(cisaTree)
	if len(lines) != 3*2*2*3 {
		t.Fatalf("table has %d leaves, want 36", len(lines))
	}
	for _, line := range lines {
		f := strings.Split(line, ",")
		p := DecisionPoints{
			Exploitation: Exploitation(f[0]),
			Automatable:  f[1] == "yes",
			TotalImpact:  f[2] == "total",
			Mission:      Mission(f[3]),
		}
		if got := Decide(p); got != Decision(f[4]) {
			t.Errorf("Decide(%s) = %s, want %s", p, got, f[4])
		}
	}
}

func TestScoreDerivesTheSSVCDecisionPoints(t *testing.T) {
	const (
		networkTotal   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
		localPartial   = "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N"
		networkPartial = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
	)
	tests := []struct {
		name string
		in   Input
		want DecisionPoints
		dec  Decision
	}{
		{"KEV is active exploitation",
			Input{CVSS: []string{networkTotal}, KEV: true, EPSS: -1, Criticality: 5},
			DecisionPoints{ExploitationActive, true, true, MissionHigh}, Act},
		{"EPSS at 0.1 counts as a proof of concept",
			Input{CVSS: []string{networkPartial}, EPSS: 0.1, Criticality: 4},
			DecisionPoints{ExploitationPoC, true, false, MissionHigh}, Attend},
		{"EPSS below 0.1 is no exploitation",
			Input{CVSS: []string{networkPartial}, EPSS: 0.099, Criticality: 3},
			DecisionPoints{ExploitationNone, true, false, MissionMedium}, Track},
		{"unset criticality counts as medium mission",
			Input{CVSS: []string{localPartial}, KEV: true, EPSS: -1},
			DecisionPoints{ExploitationActive, false, false, MissionMedium}, Track},
		{"criticality 2 is low mission",
			Input{CVSS: []string{networkTotal}, KEV: true, EPSS: 0.9, Criticality: 2},
			DecisionPoints{ExploitationActive, true, true, MissionLow}, Attend},
		{"without a vector, not automatable and partial impact",
			Input{FeedSeverity: SeverityHigh, KEV: true, EPSS: -1, Criticality: 5},
			DecisionPoints{ExploitationActive, false, false, MissionHigh}, Attend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(tt.in)
			if r.SSVCPoints != tt.want || r.SSVC != tt.dec {
				t.Errorf("got %s → %s, want %s → %s", r.SSVCPoints, r.SSVC, tt.want, tt.dec)
			}
		})
	}
}
