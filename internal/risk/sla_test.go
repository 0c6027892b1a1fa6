package risk

import (
	"testing"
	"time"
	_ "time/tzdata" // the DST test must not depend on the machine's zoneinfo
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestDueFollowsTheDefaultPolicy(t *testing.T) {
	seen := time.Date(2025, 8, 1, 10, 30, 0, 0, time.UTC)
	kevSoon := date(2025, 8, 15)
	kevLate := date(2025, 12, 1)
	past := date(2025, 7, 1)
	tests := []struct {
		name   string
		sev    Severity
		kev    bool
		kevDue *time.Time
		want   time.Time
		why    string
	}{
		{"critical gets 15 days", SeverityCritical, false, nil, seen.AddDate(0, 0, 15), "critical: 15 days from first seen"},
		{"high gets 30 days", SeverityHigh, false, nil, seen.AddDate(0, 0, 30), "high: 30 days from first seen"},
		{"medium gets 90 days", SeverityMedium, false, nil, seen.AddDate(0, 0, 90), "medium: 90 days from first seen"},
		{"low gets 180 days", SeverityLow, false, nil, seen.AddDate(0, 0, 180), "low: 180 days from first seen"},
		{"unknown severity is treated as medium", SeverityUnknown, false, nil, seen.AddDate(0, 0, 90), "unknown severity (as medium): 90 days from first seen"},
		{"none has no SLA", SeverityNone, false, nil, time.Time{}, "no SLA for none"},
		{"a sooner CISA due date wins", SeverityHigh, true, &kevSoon, kevSoon, "CISA KEV due date 2025-08-15 (sooner than high: 30 days from first seen)"},
		{"a later CISA due date loses", SeverityHigh, true, &kevLate, seen.AddDate(0, 0, 30), "high: 30 days from first seen (sooner than CISA KEV due date 2025-12-01)"},
		{"a CISA due date already past makes it overdue at once", SeverityLow, true, &past, past, "CISA KEV due date 2025-07-01 (sooner than low: 180 days from first seen)"},
		{"a CISA due date gives even severity none a deadline", SeverityNone, true, &kevSoon, kevSoon, "CISA KEV due date 2025-08-15"},
		{"KEV without a due date keeps the severity SLA", SeverityHigh, true, nil, seen.AddDate(0, 0, 30), "high: 30 days from first seen"},
		{"a CISA due date is ignored when not in KEV", SeverityHigh, false, &kevSoon, seen.AddDate(0, 0, 30), "high: 30 days from first seen"},
	}
	p := DefaultSLA()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := p.Due(tt.sev, seen, tt.kev, tt.kevDue)
			if !got.Equal(tt.want) || why != tt.why {
				t.Errorf("Due = %v %q, want %v %q", got, why, tt.want, tt.why)
			}
			if !got.IsZero() && got.Location() != time.UTC {
				t.Errorf("due date %v is not in UTC", got)
			}
		})
	}
}

func TestDueHonoursKEVMaxDaysAndTurningCISAOff(t *testing.T) {
	seen := date(2025, 8, 1)
	kevDue := date(2025, 8, 20)
	p := SLAPolicy{Days: map[Severity]int{SeverityHigh: 30}, KEVUseCISADue: false, KEVMaxDays: 7}
	got, why := p.Due(SeverityHigh, seen, true, &kevDue)
	if want := date(2025, 8, 8); !got.Equal(want) || why != "KEV: at most 7 days from first seen (sooner than high: 30 days from first seen)" {
		t.Errorf("Due = %v %q, want %v", got, why, want)
	}
	p.KEVUseCISADue = true
	p.KEVMaxDays = 30
	got, why = p.Due(SeverityHigh, seen, true, &kevDue)
	if !got.Equal(kevDue) || why != "CISA KEV due date 2025-08-20 (sooner than high: 30 days from first seen)" {
		t.Errorf("Due = %v %q, want %v", got, why, kevDue)
	}
	got, why = p.Due(SeverityLow, seen, true, nil) // low has no days in this policy
	if want := date(2025, 8, 31); !got.Equal(want) || why != "KEV: at most 30 days from first seen" {
		t.Errorf("Due = %v %q, want %v", got, why, want)
	}
	got, why = p.Due(SeverityLow, seen, false, nil)
	if !got.IsZero() || why != "no SLA for low" {
		t.Errorf("Due = %v %q, want no SLA", got, why)
	}
}

func TestDueIsInsensitiveToDaylightSaving(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "Australia/Sydney"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatalf("time zone %s: %v", zone, err)
		}
		// Each first-seen time lies days before a DST change in its zone.
		for _, seen := range []time.Time{
			time.Date(2025, 3, 1, 23, 30, 0, 0, loc),
			time.Date(2025, 10, 20, 0, 30, 0, 0, loc),
			time.Date(2025, 3, 30, 1, 59, 0, 0, loc),
		} {
			for sev, days := range DefaultSLA().Days {
				got, _ := DefaultSLA().Due(sev, seen, false, nil)
				if d := got.Sub(seen); d != time.Duration(days)*24*time.Hour {
					t.Errorf("%s %v + %s SLA: due %v is %v later, want exactly %d×24h", zone, seen, sev, got, d, days)
				}
				if got.Location() != time.UTC {
					t.Errorf("due %v not in UTC", got)
				}
			}
		}
	}
}
