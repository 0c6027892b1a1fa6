package metrics

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// unit says how a metric's number reads.
type unit int

const (
	count unit = iota
	fraction
	days
	hours
	perDay
	perChange
	priorityDays
)

// metric is one named number of a Values; ok is false when it is undefined.
type metric struct {
	Name, Label string
	unit        unit
	value       float64
	ok          bool
}

// metrics lists v's numbers in report order, named as in JSON.
func (v Values) metrics() []metric {
	n := func(name, label string, x int) metric { return metric{name, label, count, float64(x), true} }
	x := func(name, label string, u unit, x float64) metric { return metric{name, label, u, x, true} }
	p := func(name, label string, u unit, x *float64) metric {
		if x == nil {
			return metric{name, label, u, 0, false}
		}
		return metric{name, label, u, *x, true}
	}
	return []metric{
		p("mttp_published_mean_days", "Time to patch from publication, mean", days, v.MTTPPublishedMeanDays),
		p("mttp_published_median_days", "Time to patch from publication, median", days, v.MTTPPublishedMedianDays),
		n("mttp_published_findings", "Findings fixed with a known publication date", v.MTTPPublishedFindings),
		p("mttp_fix_mean_days", "Time to patch from fix available, mean", days, v.MTTPFixMeanDays),
		p("mttp_fix_median_days", "Time to patch from fix available, median", days, v.MTTPFixMedianDays),
		n("mttp_fix_findings", "Findings fixed with a known fix date", v.MTTPFixFindings),
		n("hosts", "Hosts", v.Hosts),
		n("hosts_missing", "Hosts missing a security update", v.HostsMissing),
		n("hosts_held", "Covered hosts with a held update", v.HostsHeld),
		n("hosts_excepted", "Covered hosts with an excepted update", v.HostsExcepted),
		p("coverage", "Patch coverage", fraction, v.Coverage),
		n("closed_with_sla", "Findings closed that had an SLA", v.ClosedWithSLA),
		n("closed_within_sla", "Findings closed within SLA", v.ClosedWithinSLA),
		p("sla_compliance_closed", "SLA compliance, closed findings", fraction, v.SLAComplianceClosed),
		n("open_with_sla", "Open findings with an SLA", v.OpenWithSLA),
		n("open_not_overdue", "Open findings not overdue", v.OpenNotOverdue),
		p("sla_compliance_open", "SLA compliance, open findings", fraction, v.SLAComplianceOpen),
		n("open_findings", "Open findings", v.OpenFindings),
		n("open_excepted", "Open findings excepted", v.OpenExcepted),
		n("open_held", "Open findings held", v.OpenHeld),
		n("overdue", "Overdue findings", v.Overdue),
		n("unpatched_critical", "Unpatched critical systems", v.UnpatchedCritical),
		n("unpatched_critical_held_or_excepted", "Unpatched critical systems, only held or excepted", v.UnpatchedCriticalHeldOrExcepted),
		n("first_attempts", "First-attempt jobs finished", v.FirstAttempts),
		n("first_attempts_ok", "First-attempt jobs succeeded", v.FirstAttemptsOK),
		p("patch_success_rate", "Patch success rate", fraction, v.PatchSuccessRate),
		n("jobs_finished", "Jobs finished", v.JobsFinished),
		n("jobs_rolled_back", "Jobs rolled back", v.JobsRolledBack),
		p("rollback_frequency", "Rollback frequency", fraction, v.RollbackFrequency),
		n("jobs_verified", "Jobs verified", v.JobsVerified),
		p("mean_time_to_verify_hours", "Mean time to verify", hours, v.MeanTimeToVerifyHours),
		n("hosts_patched", "Hosts patched (host-days)", v.HostsPatched),
		n("days", "Days", v.Days),
		p("deployment_velocity", "Deployment velocity", perDay, v.DeploymentVelocity),
		n("changes_completed", "Changes completed", v.ChangesCompleted),
		n("problems_reported", "Problems reported", v.ProblemsReported),
		p("incident_rate", "Post-patch incident rate", perChange, v.IncidentRate),
		x("risk_exposure_30d", "Risk exposure, 30 days", priorityDays, v.RiskExposure30d),
		x("risk_exposure_30d_held_or_excepted", "Risk exposure, 30 days, held or excepted", priorityDays, v.RiskExposure30dHeldOrExcepted),
		x("risk_exposure_90d", "Risk exposure, 90 days", priorityDays, v.RiskExposure90d),
		x("risk_exposure_90d_held_or_excepted", "Risk exposure, 90 days, held or excepted", priorityDays, v.RiskExposure90dHeldOrExcepted),
	}
}

// CSV writes the report in long form, one number per row, under the header
// date,metric,owner,value. Report.Values has date "current"; series rows have
// their YYYY-MM-DD date. Overdue findings by owner have metric
// "overdue_by_owner" (and "…_excepted", "…_held") and the owner's name; the
// other rows leave owner empty. An undefined value is an empty cell. A cell
// that a spreadsheet would read as a formula is prefixed with a quote.
func (r Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	write := func(cells ...string) {
		for i, c := range cells {
			cells[i] = safeCell(c)
		}
		cw.Write(cells) // the error is sticky; cw.Error reports it below
	}
	values := func(date string, v Values) {
		for _, m := range v.metrics() {
			write(date, m.Name, "", m.raw())
		}
	}
	write("date", "metric", "owner", "value")
	values("current", r.Values)
	for _, oc := range r.Values.OverdueByOwner {
		write("current", "overdue_by_owner", oc.Owner, strconv.Itoa(oc.Overdue))
		write("current", "overdue_by_owner_excepted", oc.Owner, strconv.Itoa(oc.Excepted))
		write("current", "overdue_by_owner_held", oc.Owner, strconv.Itoa(oc.Held))
	}
	for _, p := range r.Series {
		values(p.Date, p.Values)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write metrics csv: %w", err)
	}
	return nil
}

// safeCell defuses formula injection: a spreadsheet evaluates a cell that
// starts with = + - @ TAB or CR, so such a cell is prefixed with '.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (m metric) raw() string {
	if !m.ok {
		return ""
	}
	return strconv.FormatFloat(m.value, 'f', -1, 64)
}

// Figure is one KPI by its JSON name, with its label and its text for people.
type Figure struct{ Name, Label, Text string }

// Figures lists every KPI of v in report order.
func (v Values) Figures() []Figure {
	ms := v.metrics()
	out := make([]Figure, len(ms))
	for i, m := range ms {
		out[i] = Figure{m.Name, m.Label, m.Text()}
	}
	return out
}

// Text is the metric formatted for people: "87.5%", "3.2 days", "n/a".
func (m metric) Text() string {
	if !m.ok {
		return "n/a"
	}
	switch m.unit {
	case fraction:
		return strconv.FormatFloat(100*m.value, 'f', 1, 64) + "%"
	case days:
		return strconv.FormatFloat(m.value, 'f', 1, 64) + " days"
	case hours:
		return strconv.FormatFloat(m.value, 'f', 1, 64) + " hours"
	case perDay:
		return strconv.FormatFloat(m.value, 'f', 1, 64) + " hosts/day"
	case perChange:
		return strconv.FormatFloat(m.value, 'f', 2, 64) + " per change"
	case priorityDays:
		return strconv.FormatFloat(m.value, 'f', 1, 64) + " priority-days"
	}
	return strconv.FormatFloat(m.value, 'f', -1, 64)
}

// seriesColumns are the metrics the HTML page shows per day.
var seriesColumns = []string{
	"coverage", "sla_compliance_closed", "sla_compliance_open", "overdue", "unpatched_critical",
	"patch_success_rate", "rollback_frequency", "deployment_velocity", "risk_exposure_30d",
}

// reportCSS is the page's only style; the Content-Security-Policy allows it
// by hash and nothing else, so the page loads and runs nothing.
const reportCSS = `body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}` +
	`th,td{border:1px solid #999;padding:.2em .5em;text-align:left}td.n{text-align:right}` +
	`@media print{body{margin:0}tr{break-inside:avoid}}`

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<title>Patchbay KPI report {{.From}} to {{.To}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<h1>Patchbay KPI report</h1>
<p>Period {{.From}} to {{.To}} (UTC days), generated {{.Generated}}.
Scope: team {{.Team}}, group {{.Group}}, ring {{.Ring}}, severity {{.Severity}}.</p>
<h2>Summary</h2>
<table>
<tr><th>KPI</th><th>Value</th></tr>
{{range .Headline}}<tr><td>{{.Label}}</td><td class="n">{{.Text}}</td></tr>
{{end}}</table>
<h2>Overdue findings by owner</h2>
{{if .Owners}}<table>
<tr><th>Owner</th><th>Overdue</th><th>of which excepted</th><th>of which held</th></tr>
{{range .Owners}}<tr><td>{{.Owner}}</td><td class="n">{{.Overdue}}</td><td class="n">{{.Excepted}}</td><td class="n">{{.Held}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>All figures</h2>
<table>
<tr><th>Metric</th><th>Value</th></tr>
{{range .All}}<tr><td>{{.Label}}</td><td class="n">{{.Text}}</td></tr>
{{end}}</table>
<h2>Daily series</h2>
<table>
<tr><th>Date</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Date}}</td>{{range .Cells}}<td class="n">{{.Text}}</td>{{end}}</tr>
{{end}}</table>
</body>
</html>
`))

type htmlRow struct {
	Date  string
	Cells []metric
}

// Headline is one line of a report's summary: a KPI and its context.
type Headline struct{ Label, Text string }

// Headline lists the report's summary: each headline KPI with the counts
// behind it ("87.5% of 8 hosts (1 held, 0 excepted)").
func (r Report) Headline() []Headline {
	byName := make(map[string]metric)
	for _, m := range r.Values.metrics() {
		byName[m.Name] = m
	}
	v := r.Values
	text := func(name string) string { return byName[name].Text() }
	return []Headline{
		{"Patch coverage", fmt.Sprintf("%s of %d hosts (%d held, %d excepted)",
			text("coverage"), v.Hosts, v.HostsHeld, v.HostsExcepted)},
		{"Time to patch from publication, mean / median", text("mttp_published_mean_days") + " / " +
			text("mttp_published_median_days") + fmt.Sprintf(" (%d findings)", v.MTTPPublishedFindings)},
		{"Time to patch from fix available, mean / median", text("mttp_fix_mean_days") + " / " +
			text("mttp_fix_median_days") + fmt.Sprintf(" (%d findings)", v.MTTPFixFindings)},
		{"SLA compliance, closed in period", fmt.Sprintf("%s (%d of %d)",
			text("sla_compliance_closed"), v.ClosedWithinSLA, v.ClosedWithSLA)},
		{"SLA compliance, open now", fmt.Sprintf("%s (%d of %d not overdue; %d open, %d excepted, %d held)",
			text("sla_compliance_open"), v.OpenNotOverdue, v.OpenWithSLA, v.OpenFindings, v.OpenExcepted, v.OpenHeld)},
		{"Overdue findings", strconv.Itoa(v.Overdue)},
		{"Unpatched critical systems", fmt.Sprintf("%d (%d only held or excepted)",
			v.UnpatchedCritical, v.UnpatchedCriticalHeldOrExcepted)},
		{"Patch success rate", fmt.Sprintf("%s (%d of %d first attempts)",
			text("patch_success_rate"), v.FirstAttemptsOK, v.FirstAttempts)},
		{"Rollback frequency", fmt.Sprintf("%s (%d of %d jobs)",
			text("rollback_frequency"), v.JobsRolledBack, v.JobsFinished)},
		{"Mean time to verify", fmt.Sprintf("%s (%d jobs)", text("mean_time_to_verify_hours"), v.JobsVerified)},
		{"Deployment velocity", fmt.Sprintf("%s (%d host-days over %d days)",
			text("deployment_velocity"), v.HostsPatched, v.Days)},
		{"Post-patch incident rate", fmt.Sprintf("%s (%d problems, %d changes)",
			text("incident_rate"), v.ProblemsReported, v.ChangesCompleted)},
		{"Risk exposure, 30 days", fmt.Sprintf("%s (%s held or excepted)",
			text("risk_exposure_30d"), text("risk_exposure_30d_held_or_excepted"))},
		{"Risk exposure, 90 days", fmt.Sprintf("%s (%s held or excepted)",
			text("risk_exposure_90d"), text("risk_exposure_90d_held_or_excepted"))},
	}
}

// HTML writes the report as a self-contained printable page. It is inert: a
// Content-Security-Policy of default-src 'none' forbids scripts, requests and
// any style but its own, and html/template escapes every value.
func (r Report) HTML(w io.Writer) error {
	all := r.Values.metrics()
	byName := make(map[string]metric, len(all))
	for _, m := range all {
		byName[m.Name] = m
	}
	heads := r.Headline()
	v := r.Values

	var columns []string
	for _, name := range seriesColumns {
		columns = append(columns, byName[name].Label)
	}
	rows := make([]htmlRow, len(r.Series))
	for i, p := range r.Series {
		ms := p.Values.metrics()
		idx := make(map[string]metric, len(ms))
		for _, m := range ms {
			idx[m.Name] = m
		}
		rows[i].Date = p.Date
		for _, name := range seriesColumns {
			rows[i].Cells = append(rows[i].Cells, idx[name])
		}
	}

	orAll := func(s string) string {
		if s == "" {
			return "all"
		}
		return s
	}
	data := struct {
		CSP                         string
		CSS                         template.CSS
		From, To, Generated         string
		Team, Group, Ring, Severity string
		Headline                    []Headline
		Owners                      []OwnerCount
		All                         []metric
		Columns                     []string
		Rows                        []htmlRow
	}{
		CSP:       contentSecurityPolicy(),
		CSS:       template.CSS(reportCSS),
		From:      r.Filter.From.Format("2006-01-02"),
		To:        r.Filter.To.Format("2006-01-02"),
		Generated: r.Generated.Format("2006-01-02 15:04:05 UTC"),
		Team:      orAll(r.Filter.Team),
		Group:     orAll(r.Filter.Group),
		Ring:      orAll(r.Filter.Ring),
		Severity:  orAll(r.Filter.Severity),
		Headline:  heads,
		Owners:    v.OverdueByOwner,
		All:       all,
		Columns:   columns,
		Rows:      rows,
	}
	if err := reportTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("write metrics html: %w", err)
	}
	return nil
}

func contentSecurityPolicy() string {
	sum := sha256.Sum256([]byte(reportCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// ContentSecurityPolicy is the policy the HTML report needs: a server that
// sends its own CSP header must send this one with the page, or the
// page's stylesheet is blocked.
func ContentSecurityPolicy() string { return contentSecurityPolicy() + "; frame-ancestors 'none'" }
