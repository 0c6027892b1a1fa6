package risk

import "fmt"

// Decision is a CISA SSVC decision.
type Decision string

// SSVC decisions, from least to most urgent.
const (
	Track     Decision = "Track"
	TrackStar Decision = "Track*"
	Attend    Decision = "Attend"
	Act       Decision = "Act"
)

// Exploitation is SSVC's Exploitation decision point.
type Exploitation string

// Exploitation values.
const (
	ExploitationNone   Exploitation = "none"
	ExploitationPoC    Exploitation = "poc"
	ExploitationActive Exploitation = "active"
)

// Mission is SSVC's Mission & Well-being decision point.
type Mission string

// Mission & Well-being values.
const (
	MissionLow    Mission = "low"
	MissionMedium Mission = "medium"
	MissionHigh   Mission = "high"
)

// DecisionPoints are the inputs to the SSVC tree.
type DecisionPoints struct {
	Exploitation Exploitation
	Automatable  bool
	TotalImpact  bool // Technical Impact: total (true) or partial (false)
	Mission      Mission
}

// String spells the decision points out for explanations.
func (p DecisionPoints) String() string {
	auto, impact := "no", "partial"
	if p.Automatable {
		auto = "yes"
	}
	if p.TotalImpact {
		impact = "total"
	}
	return fmt.Sprintf("exploitation %s, automatable %s, technical impact %s, mission & well-being %s",
		p.Exploitation, auto, impact, p.Mission)
}

// epssPoC is the EPSS probability from which a vulnerability without KEV
// evidence counts as having a public proof of concept. We have no feed of
// public exploits, so EPSS stands in for it.
const epssPoC = 0.1

// ssvcTable is the CISA SSVC decision tree (CISA SSVC Guide, November 2022):
// for each exploitation, automatable, technical impact, the decisions for
// mission & well-being low, medium, high.
var ssvcTable = map[Exploitation]map[bool]map[bool][3]Decision{
	ExploitationNone: {
		false: {false: {Track, Track, Track}, true: {Track, Track, TrackStar}},
		true:  {false: {Track, Track, Attend}, true: {Track, Track, Attend}},
	},
	ExploitationPoC: {
		false: {false: {Track, Track, TrackStar}, true: {Track, TrackStar, Attend}},
		true:  {false: {Track, Track, Attend}, true: {Track, TrackStar, Attend}},
	},
	ExploitationActive: {
		false: {false: {Track, Track, Attend}, true: {Track, Attend, Act}},
		true:  {false: {Attend, Attend, Act}, true: {Attend, Act, Act}},
	},
}

// Decide walks the CISA SSVC tree. An unknown exploitation value counts as
// none and an unknown mission as medium.
func Decide(p DecisionPoints) Decision {
	byAuto, ok := ssvcTable[p.Exploitation]
	if !ok {
		byAuto = ssvcTable[ExploitationNone]
	}
	row := byAuto[p.Automatable][p.TotalImpact]
	switch p.Mission {
	case MissionLow:
		return row[0]
	case MissionHigh:
		return row[2]
	}
	return row[1]
}

// missionFromCriticality maps host criticality 1–5 to mission & well-being:
// 4–5 high, 3 medium, 1–2 low.
func missionFromCriticality(crit int) Mission {
	switch {
	case crit >= 4:
		return MissionHigh
	case crit == 3:
		return MissionMedium
	}
	return MissionLow
}

// decisionPoints derives the SSVC inputs from what Score knows. Without a
// CVSS vector, Automatable is no and Technical Impact partial: we do not
// guess, and KEV and EPSS still drive exploitation.
func decisionPoints(in Input, c *CVSS, crit int) DecisionPoints {
	p := DecisionPoints{Exploitation: ExploitationNone, Mission: missionFromCriticality(crit)}
	switch {
	case in.KEV:
		p.Exploitation = ExploitationActive
	case in.EPSS >= epssPoC:
		p.Exploitation = ExploitationPoC
	}
	if c != nil {
		p.Automatable = c.Automatable
		p.TotalImpact = c.TotalImpact
	}
	return p
}
