package metrics

import (
	"strings"
	"time"
)

// Report is the KPIs for one filter: their value now and a daily series.
type Report struct {
	Generated time.Time    `json:"generated"`
	Filter    Filter       `json:"filter"` // as applied: From and To are UTC midnights
	Values    Values       `json:"values"`
	Series    []DailyPoint `json:"series"`
}

// DailyPoint is the KPIs of one UTC calendar day: state KPIs as of the day's
// last instant (or now, for today), event KPIs over the day's events.
type DailyPoint struct {
	Date   string `json:"date"` // YYYY-MM-DD, UTC
	Values Values `json:"values"`
}

// Values holds every KPI. Rates are fractions in [0, 1]; a rate, mean or
// median without data is nil (JSON null). docs/metrics.md defines each field.
type Values struct {
	// Time to patch: findings whose fix was verified in the period.
	MTTPPublishedMeanDays   *float64 `json:"mttp_published_mean_days"`
	MTTPPublishedMedianDays *float64 `json:"mttp_published_median_days"`
	MTTPPublishedFindings   int      `json:"mttp_published_findings"`
	MTTPFixMeanDays         *float64 `json:"mttp_fix_mean_days"`
	MTTPFixMedianDays       *float64 `json:"mttp_fix_median_days"`
	MTTPFixFindings         int      `json:"mttp_fix_findings"`

	// Patch coverage at the instant.
	Hosts         int      `json:"hosts"`
	HostsMissing  int      `json:"hosts_missing"`
	HostsHeld     int      `json:"hosts_held"`
	HostsExcepted int      `json:"hosts_excepted"`
	Coverage      *float64 `json:"coverage"`

	// SLA compliance: closed in the period, open at the instant.
	ClosedWithSLA       int      `json:"closed_with_sla"`
	ClosedWithinSLA     int      `json:"closed_within_sla"`
	SLAComplianceClosed *float64 `json:"sla_compliance_closed"`
	OpenWithSLA         int      `json:"open_with_sla"`
	OpenNotOverdue      int      `json:"open_not_overdue"`
	SLAComplianceOpen   *float64 `json:"sla_compliance_open"`
	OpenFindings        int      `json:"open_findings"`
	OpenExcepted        int      `json:"open_excepted"`
	OpenHeld            int      `json:"open_held"`

	// Overdue findings at the instant; by owner only in Report.Values.
	Overdue        int          `json:"overdue"`
	OverdueByOwner []OwnerCount `json:"overdue_by_owner,omitempty"`

	// Unpatched critical systems at the instant.
	UnpatchedCritical               int `json:"unpatched_critical"`
	UnpatchedCriticalHeldOrExcepted int `json:"unpatched_critical_held_or_excepted"`

	// Jobs finished in the period.
	FirstAttempts     int      `json:"first_attempts"`
	FirstAttemptsOK   int      `json:"first_attempts_ok"`
	PatchSuccessRate  *float64 `json:"patch_success_rate"`
	JobsFinished      int      `json:"jobs_finished"`
	JobsRolledBack    int      `json:"jobs_rolled_back"`
	RollbackFrequency *float64 `json:"rollback_frequency"`

	// Jobs verified in the period.
	JobsVerified          int      `json:"jobs_verified"`
	MeanTimeToVerifyHours *float64 `json:"mean_time_to_verify_hours"`

	// Deployment velocity over the period's days.
	HostsPatched       int      `json:"hosts_patched"`
	Days               int      `json:"days"`
	DeploymentVelocity *float64 `json:"deployment_velocity"`

	// Changes completed in the period.
	ChangesCompleted int      `json:"changes_completed"`
	ProblemsReported int      `json:"problems_reported"`
	IncidentRate     *float64 `json:"incident_rate"`

	// Risk exposure in priority-days over the windows ending at the instant.
	RiskExposure30d               float64 `json:"risk_exposure_30d"`
	RiskExposure30dHeldOrExcepted float64 `json:"risk_exposure_30d_held_or_excepted"`
	RiskExposure90d               float64 `json:"risk_exposure_90d"`
	RiskExposure90dHeldOrExcepted float64 `json:"risk_exposure_90d_held_or_excepted"`
}

// OwnerCount is how many open findings of one owner are overdue, and how
// many of those are excepted or held.
type OwnerCount struct {
	Owner    string `json:"owner"` // "(none)" when the finding has no owner
	Overdue  int    `json:"overdue"`
	Excepted int    `json:"excepted"`
	Held     int    `json:"held"`
}

// NoOwner names the owner of findings that have none.
const NoOwner = "(none)"

const day = 24 * time.Hour

// Compute returns the KPIs of the part of in that f selects, as of now.
//
// The period is the UTC calendar days f.From through f.To. A zero To means
// the day of now; a zero From means 29 days before To (30 days in all); if
// From is after To they are swapped. Days that start after now are left out,
// so the series ends today at the latest. Report.Values holds the state KPIs
// at now and the event KPIs over the whole period (up to now); each series
// point holds the state at the end of its day and the events of that day.
func Compute(in Input, f Filter, now time.Time) Report {
	now = now.UTC()
	f = normalize(f, now)
	s := newScope(in, f)

	var days []time.Time
	for d := f.From; !d.After(f.To) && !d.After(now); d = d.Add(day) {
		days = append(days, d)
	}
	flows := s.flows(days, now)

	// The state KPIs' instants: each day's last, or now for today, then now
	// unless the period ended before today.
	instants := make([]int64, 0, len(days)+1)
	for _, d := range days {
		instants = append(instants, min(d.Add(day-1).UnixNano(), now.UnixNano()))
	}
	if t := now.UnixNano(); len(instants) == 0 || instants[len(instants)-1] < t {
		instants = append(instants, t)
	}
	st := s.computeStates(instants)

	r := Report{Generated: now, Filter: f, Series: make([]DailyPoint, len(days))}
	var total flow
	for i, d := range days {
		v := st.values(i)
		flows[i].fill(&v, 1)
		r.Series[i] = DailyPoint{Date: d.Format(time.DateOnly), Values: v}
		total.add(&flows[i])
	}
	r.Values = st.values(len(instants) - 1)
	r.Values.OverdueByOwner = s.overdueByOwner(now.UnixNano())
	total.fill(&r.Values, len(days))
	return r
}

func normalize(f Filter, now time.Time) Filter {
	f.Severity = strings.ToLower(strings.TrimSpace(f.Severity))
	if f.To.IsZero() {
		f.To = now
	}
	f.To = utcDay(f.To)
	if f.From.IsZero() {
		f.From = f.To.AddDate(0, 0, -29)
	}
	f.From = utcDay(f.From)
	if f.From.After(f.To) {
		f.From, f.To = f.To, f.From
	}
	return f
}

// utcDay returns the start of t's UTC calendar day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func ratio(num, den int) *float64 {
	if den == 0 {
		return nil
	}
	r := float64(num) / float64(den)
	return &r
}
