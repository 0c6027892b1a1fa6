package web

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxReportDays bounds the period one report may cover: its cost grows
// with the number of days in the series.
const maxReportDays = 731

// reportForm is the report's scope as typed, kept as strings so the form
// shows them back.
type reportForm struct {
	From, To, Team, Group, Severity string
}

type reportsView struct {
	Form       reportForm
	Teams      []string
	Groups     []string
	Severities []string
	Error      string
	Report     *Report
	Charts     []lineChart
	// Links download the same report; Query is its scope as a query string.
	JSONURL, CSVURL, HTMLURL string
}

// parseReportQuery reads the report's scope. Dates are UTC days; the scope
// names must be among the known teams and groups.
// now bounds a period given only its start.
func parseReportQuery(v url.Values, teams, groups []string, now time.Time) (ReportQuery, reportForm, string) {
	f := reportForm{From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")), Team: v.Get("team"),
		Group: v.Get("group"), Severity: strings.ToLower(v.Get("severity"))}
	var q ReportQuery
	for _, d := range []struct {
		field, val string
		dst        *time.Time
	}{{"from", f.From, &q.From}, {"to", f.To, &q.To}} {
		if d.val == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.val)
		if err != nil {
			return q, f, "Write the dates as YYYY-MM-DD, e.g. 2026-11-01."
		}
		*d.dst = t
	}
	if !q.From.IsZero() {
		end := q.To
		if end.IsZero() {
			end = now
		}
		if q.From.After(end) {
			return q, f, "The period starts after it ends; swap the dates."
		}
		if end.Sub(q.From) > maxReportDays*24*time.Hour {
			return q, f, "A report covers at most two years; choose a shorter period."
		}
	}
	switch {
	case f.Team != "" && !slices.Contains(teams, f.Team):
		return q, f, "There is no such team; choose one from the list."
	case f.Group != "" && !slices.Contains(groups, f.Group):
		return q, f, "There is no such group; choose one from the list."
	case f.Severity != "" && !slices.Contains(severities, f.Severity):
		return q, f, "Choose a severity from the list."
	}
	q.Team, q.Group, q.Severity = f.Team, f.Group, f.Severity
	return q, f, ""
}

// reportQueryString is q as the download links' query.
func reportQueryString(q ReportQuery) string {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.DateOnly))
	}
	for k, s := range map[string]string{"team": q.Team, "group": q.Group, "severity": q.Severity} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func (c *console) reports(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	teams, groups, err := c.b.ReportScopes(r.Context())
	if err != nil {
		return err
	}
	q, form, problem := parseReportQuery(r.URL.Query(), teams, groups, c.opt.Now())
	v := reportsView{Form: form, Teams: teams, Groups: groups, Severities: severities, Error: problem}
	if problem != "" {
		c.render(w, r, rc, http.StatusBadRequest, "reports.html", "Reports", v)
		return nil
	}
	rep, err := c.b.Report(r.Context(), q)
	if err != nil {
		return err
	}
	// The period as applied (the backend fills in the defaults), so the
	// downloads show exactly this report.
	q.From, q.To = rep.From, rep.To
	v.Form.From, v.Form.To = rep.From.Format(time.DateOnly), rep.To.Format(time.DateOnly)
	v.Report, v.Charts = &rep, kpiCharts("report", rep.Series)
	qs := reportQueryString(q)
	v.JSONURL, v.CSVURL, v.HTMLURL = "/reports/report.json"+qs, "/reports/report.csv"+qs, "/reports/report.html"+qs
	c.render(w, r, rc, http.StatusOK, "reports.html", "Reports", v)
	return nil
}

// reportFile answers the report in a format the API serves: JSON and CSV
// as downloads, the printable page inline with its own policy.
func (c *console) reportFile(format string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		teams, groups, err := c.b.ReportScopes(r.Context())
		if err != nil {
			return err
		}
		q, _, problem := parseReportQuery(r.URL.Query(), teams, groups, c.opt.Now())
		if problem != "" {
			return errStatus(http.StatusBadRequest, "%s", problem)
		}
		f, err := c.b.ReportFile(r.Context(), q, format)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Content-Type", f.ContentType)
		disposition := "attachment"
		if format == "html" {
			disposition = "inline"
			if f.CSP != "" {
				h.Set("Content-Security-Policy", f.CSP)
			}
		}
		h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
		w.WriteHeader(http.StatusOK)
		w.Write(f.Body)
		return nil
	}
}
