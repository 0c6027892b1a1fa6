package risk

import (
	"fmt"
	"time"
)

// SLAPolicy says how long a finding may stay open.
type SLAPolicy struct {
	// Days per severity, counted from first seen. A severity missing from
	// the map (or with 0 days) has no SLA; unknown severity uses medium's.
	Days map[Severity]int
	// KEVUseCISADue makes a KEV finding due on CISA's due date when that is
	// sooner than the severity's SLA.
	KEVUseCISADue bool
	// KEVMaxDays caps a KEV finding at this many days from first seen; 0
	// means no cap.
	KEVMaxDays int
}

// DefaultSLA is critical 15 days, high 30, medium 90, low 180, and for KEV
// findings CISA's due date when that is sooner.
func DefaultSLA() SLAPolicy {
	return SLAPolicy{
		Days: map[Severity]int{
			SeverityCritical: 15,
			SeverityHigh:     30,
			SeverityMedium:   90,
			SeverityLow:      180,
		},
		KEVUseCISADue: true,
	}
}

// Due returns when a finding of severity sev, first seen at firstSeen, must be
// fixed, and why. Days are counted in UTC, so a daylight-saving change in the
// caller's zone never moves a due date by an hour. The returned time is in
// UTC; it is zero, with the reason, when no SLA applies.
//
// A CISA due date that is already past at firstSeen still wins when it is
// sooner: the finding is then overdue from the start, which is what the KEV
// rule asks for.
func (p SLAPolicy) Due(sev Severity, firstSeen time.Time, kev bool, kevDue *time.Time) (time.Time, string) {
	start := firstSeen.UTC()
	var due time.Time
	var why string

	label := string(sev)
	days := p.Days[sev]
	if sev.Rank() < 0 {
		label = "unknown severity (as medium)"
		days = p.Days[SeverityMedium]
	}
	if days > 0 {
		due = start.AddDate(0, 0, days)
		why = fmt.Sprintf("%s: %d days from first seen", label, days)
	}

	if !kev {
		if due.IsZero() {
			return time.Time{}, fmt.Sprintf("no SLA for %s", label)
		}
		return due, why
	}

	if p.KEVMaxDays > 0 {
		capped := start.AddDate(0, 0, p.KEVMaxDays)
		if due.IsZero() || capped.Before(due) {
			rule := fmt.Sprintf("KEV: at most %d days from first seen", p.KEVMaxDays)
			if why != "" {
				rule += " (sooner than " + why + ")"
			}
			due, why = capped, rule
		}
	}
	if p.KEVUseCISADue && kevDue != nil && !kevDue.IsZero() {
		cisa := kevDue.UTC()
		if due.IsZero() || cisa.Before(due) {
			rule := "CISA KEV due date " + cisa.Format(time.DateOnly)
			if why != "" {
				rule += " (sooner than " + why + ")"
			}
			due, why = cisa, rule
		} else {
			why += fmt.Sprintf(" (sooner than CISA KEV due date %s)", cisa.Format(time.DateOnly))
		}
	}
	if due.IsZero() {
		return time.Time{}, fmt.Sprintf("no SLA for %s", label)
	}
	return due, why
}
