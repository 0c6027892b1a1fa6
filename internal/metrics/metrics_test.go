package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// at is 2026-03-d hh:00 UTC.
func at(d, hh int) time.Time { return time.Date(2026, 3, d, hh, 0, 0, 0, time.UTC) }

func ptr(t time.Time) *time.Time { return &t }

// now is 2026-03-10 12:00 UTC; the fixture's period is 8–10 March.
var now = at(10, 12)

// fixture is a small history whose every KPI is computed by hand in the tests.
//
//	host crit team group ring
//	h1   5    a    g1    prod
//	h2   2    a    g1    pilot
//	h3   4    b    g2    prod
//	h4   3    b    g2    prod
func fixture() Input {
	return Input{
		Hosts: []Host{
			{ID: "h1", Team: "a", Group: "g1", Ring: "prod", Criticality: 5},
			{ID: "h2", Team: "a", Group: "g1", Ring: "pilot", Criticality: 2},
			{ID: "h3", Team: "b", Group: "g2", Ring: "prod", Criticality: 4},
			{ID: "h4", Team: "b", Group: "g2", Ring: "prod", Criticality: 3},
		},
		Findings: []Finding{
			// f1: fixed 9 Mar 12:00, 12 h after its due date. Published→fixed 8.5 days, fix→fixed 6.5 days.
			{ID: "f1", HostID: "h1", Team: "a", Group: "g1", Ring: "prod", Severity: "critical", Priority: 80,
				Published: at(1, 0), FirstSeen: at(2, 0), FixAvailableAt: ptr(at(3, 0)), ResolvedAt: ptr(at(9, 12)),
				DueAt: ptr(at(9, 0)), Owner: "alice"},
			// f2: fixed 8 Mar 06:00 within SLA. Published→fixed 3.25 days, fix→fixed 2.25 days.
			{ID: "f2", HostID: "h1", Team: "a", Group: "g1", Ring: "prod", Severity: "High", Priority: 40,
				Published: at(5, 0), FirstSeen: at(5, 0), FixAvailableAt: ptr(at(6, 0)), ResolvedAt: ptr(at(8, 6)),
				DueAt: ptr(at(20, 0)), Owner: "alice"},
			// f3: open, held, fix available, overdue from 9 Mar 00:00.
			{ID: "f3", HostID: "h2", Team: "a", Group: "g1", Ring: "pilot", Severity: "medium", Priority: 20,
				FirstSeen: at(1, 0), FixAvailableAt: ptr(at(4, 0)), DueAt: ptr(at(9, 0)), Held: true, Owner: "bob"},
			// f4: open KEV finding on the criticality-4 host, no fix yet, not overdue.
			{ID: "f4", HostID: "h3", Team: "b", Group: "g2", Ring: "prod", Severity: "low", KEV: true, Priority: 50,
				FirstSeen: at(7, 0), DueAt: ptr(at(30, 0)), Owner: "carol"},
			// f5: open, excepted, fix available, no SLA; host criticality 3 so not a critical system.
			{ID: "f5", HostID: "h4", Team: "b", Group: "g2", Ring: "prod", Severity: "critical", Priority: 10,
				FirstSeen: at(8, 12), FixAvailableAt: ptr(at(8, 12)), Excepted: true},
			// f6: seen 9 Mar, fixed 10 Mar 06:00 within SLA; publication unknown. Fix→fixed 1.25 days.
			{ID: "f6", HostID: "h2", Team: "a", Group: "g1", Ring: "pilot", Severity: "high", Priority: 30,
				FirstSeen: at(9, 0), FixAvailableAt: ptr(at(9, 0)), ResolvedAt: ptr(at(10, 6)), DueAt: ptr(at(12, 0)),
				Owner: "bob"},
			// f7: open all January: in the 90-day window (31 days × 2 = 62), not in the 30-day one.
			{ID: "f7", HostID: "h4", Team: "b", Group: "g2", Ring: "prod", Severity: "low", Priority: 2,
				FirstSeen: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ResolvedAt: ptr(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))},
			// f8: on a host that is not enrolled any more, unknown severity, no owner, overdue since 2 Mar.
			{ID: "f8", HostID: "ghost", Team: "a", FirstSeen: at(1, 0), DueAt: ptr(at(2, 0))},
		},
		Jobs: []Job{
			{ChangeID: "c1", HostID: "h1", Finished: ptr(at(8, 2)), OK: true, FirstAttempt: true, VerifiedAt: ptr(at(8, 6))},    // j1: verified after 4 h
			{ChangeID: "c1", HostID: "h2", Finished: ptr(at(8, 3)), FirstAttempt: true},                                         // j2: failed
			{ChangeID: "c1", HostID: "h2", Finished: ptr(at(9, 3)), OK: true, VerifiedAt: ptr(at(9, 5))},                        // j3: retry, verified after 2 h
			{ChangeID: "c2", HostID: "h3", Finished: ptr(at(9, 4)), OK: true, FirstAttempt: true, RolledBack: true},             // j4
			{ChangeID: "c2", HostID: "h1", Finished: ptr(at(10, 1)), OK: true, FirstAttempt: true, VerifiedAt: ptr(at(10, 13))}, // j5: verified after now
			{ChangeID: "c2", HostID: "h4", Finished: ptr(at(7, 23)), OK: true, FirstAttempt: true},                              // j6: before the period
			{ChangeID: "c1", HostID: "h1", Finished: ptr(at(8, 20)), OK: true},                                                  // j7: h1 again on 8 Mar
			{ChangeID: "c3", HostID: "h2", Dispatched: at(10, 11)},                                                              // j8: still running
		},
		Changes: []Change{
			{ID: "c1", Team: "a", Completed: ptr(at(9, 10)), ProblemsReported: 2},
			{ID: "c2", Team: "b", Completed: ptr(at(10, 11)), ProblemsReported: 1},
			{ID: "c3", Team: "a", Completed: ptr(at(7, 0)), ProblemsReported: 5}, // before the period
		},
	}
}

var period = Filter{From: at(8, 0), To: at(10, 0)}

// checkValues compares the fields of got named in want, with a tolerance of
// 1e-6 for floats (day-end instants are 1 ns before midnight).
func checkValues(t *testing.T, label string, got Values, want map[string]any) {
	t.Helper()
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		g, ok := m[name]
		if !ok {
			t.Errorf("%s: no field %s", label, name)
			continue
		}
		switch w := w.(type) {
		case nil:
			if g != nil {
				t.Errorf("%s: %s = %v, want null", label, name, g)
			}
		case int:
			if g != float64(w) {
				t.Errorf("%s: %s = %v, want %d", label, name, g, w)
			}
		case float64:
			gf, ok := g.(float64)
			if !ok || math.Abs(gf-w) > 1e-6 {
				t.Errorf("%s: %s = %v, want %v", label, name, g, w)
			}
		default:
			t.Fatalf("bad want type %T", w)
		}
	}
}

func TestComputeCurrentValues(t *testing.T) {
	r := Compute(fixture(), period, now)
	checkValues(t, "current", r.Values, map[string]any{
		// Fixed in 8 Mar 00:00 – 10 Mar 12:00: f1, f2, f6.
		"mttp_published_mean_days":   5.875, // (8.5 + 3.25) / 2; f6 has no publication date
		"mttp_published_median_days": 5.875,
		"mttp_published_findings":    2,
		"mttp_fix_mean_days":         10.0 / 3, // (6.5 + 2.25 + 1.25) / 3
		"mttp_fix_median_days":       2.25,
		"mttp_fix_findings":          3,
		// Now: h2's only missing update (f3) is held, h4's (f5) excepted; f4 has no fix.
		"hosts": 4, "hosts_missing": 0, "hosts_held": 1, "hosts_excepted": 1, "coverage": 1.0,
		// f1 late, f2 and f6 on time.
		"closed_with_sla": 3, "closed_within_sla": 2, "sla_compliance_closed": 2.0 / 3,
		// Open now: f3 (overdue), f4 (not), f5 (no SLA), f8 (overdue).
		"open_findings": 4, "open_excepted": 1, "open_held": 1,
		"open_with_sla": 3, "open_not_overdue": 1, "sla_compliance_open": 1.0 / 3, "overdue": 2,
		// h3 (criticality 4) with open KEV f4; h1's critical f1 is fixed.
		"unpatched_critical": 1, "unpatched_critical_held_or_excepted": 0,
		// First attempts finished in the period: j1 ok, j2 failed, j4 ok, j5 ok.
		"first_attempts": 4, "first_attempts_ok": 3, "patch_success_rate": 0.75,
		// Finished: j1 j2 j3 j4 j5 j7; j4 rolled back.
		"jobs_finished": 6, "jobs_rolled_back": 1, "rollback_frequency": 1.0 / 6,
		// j1 4 h, j3 2 h; j5's verification is after now.
		"jobs_verified": 1 + 1, "mean_time_to_verify_hours": 3.0,
		// h1 on 8 Mar (j1, j7 once), h2 on 9 Mar (j3; j4 was rolled back), h1 on 10 Mar (j5): 3 over 3 days.
		"hosts_patched": 3, "days": 3, "deployment_velocity": 1.0,
		// c1 (2 problems) and c2 (1); c3 completed before the period.
		"changes_completed": 2, "problems_reported": 3, "incident_rate": 1.5,
		// priority × days open in (now-30d, now]:
		// f1 80×7.5=600, f2 40×3.25=130, f3 20×9.5=190 (held), f4 50×3.5=175,
		// f5 10×2=20 (excepted), f6 30×1.25=37.5, f8 0 → 1152.5, of which 210 held or excepted.
		"risk_exposure_30d": 1152.5, "risk_exposure_30d_held_or_excepted": 210.0,
		// plus f7: 2×31 = 62.
		"risk_exposure_90d": 1214.5, "risk_exposure_90d_held_or_excepted": 210.0,
	})
	want := []OwnerCount{{Owner: NoOwner, Overdue: 1}, {Owner: "bob", Overdue: 1, Held: 1}}
	if len(r.Values.OverdueByOwner) != len(want) {
		t.Fatalf("overdue by owner = %+v, want %+v", r.Values.OverdueByOwner, want)
	}
	for i := range want {
		if r.Values.OverdueByOwner[i] != want[i] {
			t.Errorf("overdue by owner = %+v, want %+v", r.Values.OverdueByOwner, want)
		}
	}
}

func TestComputeDailySeries(t *testing.T) {
	r := Compute(fixture(), period, now)
	if len(r.Series) != 3 {
		t.Fatalf("got %d points, want 3", len(r.Series))
	}
	for i, date := range []string{"2026-03-08", "2026-03-09", "2026-03-10"} {
		if r.Series[i].Date != date {
			t.Errorf("point %d is %s, want %s", i, r.Series[i].Date, date)
		}
	}
	checkValues(t, "8 Mar", r.Series[0].Values, map[string]any{
		// Fixed on 8 Mar: f2.
		"mttp_published_mean_days": 3.25, "mttp_fix_median_days": 2.25, "sla_compliance_closed": 1.0,
		// At the end of 8 Mar: f1 open with a fix on h1, f3 held on h2, f5 excepted on h4.
		"hosts_missing": 1, "hosts_held": 1, "hosts_excepted": 1, "coverage": 0.75,
		// Open: f1, f3, f4, f5, f8; with SLA f1 f3 f4 f8, overdue only f8.
		"open_findings": 5, "open_with_sla": 4, "open_not_overdue": 3, "sla_compliance_open": 0.75, "overdue": 1,
		// h1 (critical f1 open) and h3 (KEV f4).
		"unpatched_critical": 2,
		// j1 ok, j2 failed, j7 not a first attempt.
		"first_attempts": 2, "patch_success_rate": 0.5, "jobs_finished": 3, "rollback_frequency": 0.0,
		"mean_time_to_verify_hours": 4.0, "hosts_patched": 1, "deployment_velocity": 1.0,
		"changes_completed": 0, "incident_rate": nil,
		// f1 80×7 + f2 40×3.25 + f3 20×8 + f4 50×2 + f5 10×0.5 = 560+130+160+100+5
		"risk_exposure_30d": 955.0, "risk_exposure_30d_held_or_excepted": 165.0,
	})
	if r.Series[0].Values.OverdueByOwner != nil {
		t.Errorf("series points carry overdue by owner: %+v", r.Series[0].Values.OverdueByOwner)
	}
	checkValues(t, "9 Mar", r.Series[1].Values, map[string]any{
		// Fixed on 9 Mar: f1, 12 h late.
		"mttp_published_mean_days": 8.5, "mttp_fix_mean_days": 6.5, "closed_with_sla": 1, "sla_compliance_closed": 0.0,
		// h2 now also has f6 (not held), so it is missing, not held; h4 still excepted.
		"hosts_missing": 1, "hosts_held": 0, "hosts_excepted": 1, "coverage": 0.75,
		// Open: f3 (overdue), f4, f5, f6, f8 (overdue).
		"open_findings": 5, "open_with_sla": 4, "open_not_overdue": 2, "sla_compliance_open": 0.5, "overdue": 2,
		"unpatched_critical": 1,
		// j3 (retry) and j4 (first attempt, rolled back).
		"first_attempts": 1, "patch_success_rate": 1.0, "jobs_finished": 2, "rollback_frequency": 0.5,
		"mean_time_to_verify_hours": 2.0, "hosts_patched": 1,
		"changes_completed": 1, "incident_rate": 2.0,
	})
	checkValues(t, "10 Mar", r.Series[2].Values, map[string]any{
		"mttp_published_mean_days": nil, "mttp_fix_mean_days": 1.25, "sla_compliance_closed": 1.0,
		"coverage": 1.0, "overdue": 2, "patch_success_rate": 1.0, "rollback_frequency": 0.0,
		"mean_time_to_verify_hours": nil, "hosts_patched": 1, "incident_rate": 1.0,
		"risk_exposure_30d": 1152.5, // the state at now, as in Report.Values
	})
}

func TestComputeFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   map[string]any
	}{
		{"team a sees its hosts, findings, jobs and changes", Filter{Team: "a"}, map[string]any{
			"hosts": 2, "hosts_held": 1, "coverage": 1.0, // h1, h2; f3 held
			"overdue":        2,                                // f3, f8
			"first_attempts": 3, "patch_success_rate": 2.0 / 3, // j1, j2, j5
			"changes_completed": 1, "incident_rate": 2.0, // c1
			"unpatched_critical": 0,
		}},
		{"severity critical keeps only critical findings", Filter{Severity: "CRITICAL"}, map[string]any{
			"hosts": 4, "hosts_excepted": 1, "hosts_held": 0, "coverage": 1.0, // f5 on h4
			"mttp_published_mean_days": 8.5, "mttp_fix_findings": 1, // f1
			"open_findings": 1, "open_with_sla": 0, "sla_compliance_open": nil,
			"patch_success_rate": 0.75, // jobs have no severity
		}},
		{"severity unknown keeps findings without one", Filter{Severity: "unknown"}, map[string]any{
			"open_findings": 1, "overdue": 1, // f8
		}},
		{"ring prod reaches changes through their jobs", Filter{Ring: "prod"}, map[string]any{
			"hosts": 3, "unpatched_critical": 1, // h1 h3 h4
			"open_findings":  2,                            // f4, f5 (f8's ring is unknown)
			"first_attempts": 3, "patch_success_rate": 1.0, // j1 j4 j5
			"jobs_finished": 4, "rollback_frequency": 0.25, // j1 j4 j5 j7
			"changes_completed": 2, "incident_rate": 1.5, // c1 (j1), c2 (j4)
		}},
		{"group g2", Filter{Group: "g2"}, map[string]any{
			"hosts": 2, "first_attempts": 1, "jobs_rolled_back": 1, // j4 (j6 before the period)
			"changes_completed": 1, "problems_reported": 1, // c2
			"risk_exposure_90d": 175 + 20 + 62.0, // f4, f5, f7
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			f.From, f.To = period.From, period.To
			checkValues(t, tt.name, Compute(fixture(), f, now).Values, tt.want)
		})
	}
}

func TestSeriesDayBoundariesAreUTC(t *testing.T) {
	berlin := time.FixedZone("UTC+2", 2*3600)
	lastNs := at(9, 0).Add(-1)
	in := Input{
		Hosts: []Host{{ID: "h", Criticality: 5}},
		Jobs: []Job{
			{HostID: "h", Finished: ptr(lastNs), OK: true, FirstAttempt: true},                                      // 8 Mar
			{HostID: "h", Finished: ptr(at(9, 0)), FirstAttempt: true},                                              // 9 Mar
			{HostID: "h", Finished: ptr(time.Date(2026, 3, 10, 1, 30, 0, 0, berlin)), OK: true, FirstAttempt: true}, // 9 Mar 23:30 UTC
		},
		Findings: []Finding{
			// Resolved exactly at midnight: still open at the end of 8 Mar.
			{ID: "a", HostID: "h", Severity: "critical", FirstSeen: at(1, 0), ResolvedAt: ptr(at(9, 0))},
			// Seen exactly at midnight: not yet open at the end of 8 Mar.
			{ID: "b", HostID: "h", Severity: "critical", FirstSeen: at(10, 0)},
		},
	}
	r := Compute(in, period, now)
	checkValues(t, "8 Mar", r.Series[0].Values, map[string]any{
		"first_attempts": 1, "patch_success_rate": 1.0, "open_findings": 1, "unpatched_critical": 1})
	if r.Series[0].Values.OverdueByOwner != nil {
		t.Errorf("series points carry overdue by owner: %+v", r.Series[0].Values.OverdueByOwner)
	}
	checkValues(t, "9 Mar", r.Series[1].Values, map[string]any{
		"first_attempts": 2, "patch_success_rate": 0.5, "open_findings": 0, "unpatched_critical": 0})
	checkValues(t, "10 Mar", r.Series[2].Values, map[string]any{
		"first_attempts": 0, "patch_success_rate": nil, "open_findings": 1, "unpatched_critical": 1})
}

func TestPeriodDefaults(t *testing.T) {
	tests := []struct {
		name        string
		filter      Filter
		from, to    time.Time
		points      int
		first, last string
	}{
		{"an empty filter covers the 30 days up to today", Filter{}, at(10, 0).AddDate(0, 0, -29), at(10, 0), 30, "2026-02-09", "2026-03-10"},
		{"times of day are ignored", Filter{From: at(8, 23), To: at(9, 1)}, at(8, 0), at(9, 0), 2, "2026-03-08", "2026-03-09"},
		{"from after to is swapped", Filter{From: at(9, 0), To: at(8, 0)}, at(8, 0), at(9, 0), 2, "2026-03-08", "2026-03-09"},
		{"days after now are left out", Filter{From: at(9, 0), To: at(20, 0)}, at(9, 0), at(20, 0), 2, "2026-03-09", "2026-03-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(Input{}, tt.filter, now)
			if !r.Filter.From.Equal(tt.from) || !r.Filter.To.Equal(tt.to) {
				t.Errorf("period %v – %v, want %v – %v", r.Filter.From, r.Filter.To, tt.from, tt.to)
			}
			if len(r.Series) != tt.points || r.Series[0].Date != tt.first || r.Series[len(r.Series)-1].Date != tt.last {
				t.Fatalf("series has %d points, want %d from %s to %s", len(r.Series), tt.points, tt.first, tt.last)
			}
			if r.Values.Days != tt.points {
				t.Errorf("days = %d, want %d", r.Values.Days, tt.points)
			}
		})
	}
}

func TestEmptyInputGivesNullRatesNotNaN(t *testing.T) {
	r := Compute(Input{}, Filter{}, now)
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal: %v", err) // NaN or Inf would fail here
	}
	for _, name := range []string{"coverage", "sla_compliance_closed", "sla_compliance_open", "patch_success_rate",
		"rollback_frequency", "mean_time_to_verify_hours", "incident_rate", "mttp_published_mean_days",
		"mttp_fix_median_days"} {
		if !strings.Contains(string(raw), `"`+name+`":null`) {
			t.Errorf("%s is not null in %s", name, raw[:200])
		}
	}
	checkValues(t, "empty", r.Values, map[string]any{
		"hosts": 0, "overdue": 0, "risk_exposure_30d": 0.0, "deployment_velocity": 0.0, "days": 30})
	var sb strings.Builder
	if err := r.CSV(&sb); err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "<td class=\"n\">n/a</td>") {
		t.Error("page does not show undefined values as n/a")
	}
	if strings.Contains(sb.String(), "NaN") {
		t.Error("output contains NaN")
	}
}

func TestZeroFirstSeenDoesNotOverflow(t *testing.T) {
	in := Input{Findings: []Finding{{ID: "x", Priority: 10}}} // zero FirstSeen: open since forever
	v := Compute(in, period, now).Values
	checkValues(t, "zero first seen", v, map[string]any{"open_findings": 1, "risk_exposure_30d": 300.0, "risk_exposure_90d": 900.0})
}
