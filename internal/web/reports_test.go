package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
)

func TestReportsPageShowsTablesChartsAndDownloads(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("approver")
	resp, body := b.get("/reports?from=2026-10-01&to=2026-10-31&group=web&severity=critical")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /reports: %s\n%s", resp.Status, body)
	}
	for _, want := range []string{
		`id="report-summary"`, `id="report-owners"`, `id="report-series"`,
		`<svg viewBox="0 0 640 220" role="img"`, `<polyline class="line s1"`, "Mean time to patch (days)", "Patch coverage", "SLA compliance",
		`href="/reports/report.csv?from=2026-10-01&amp;group=web&amp;severity=critical&amp;to=2026-10-31"`,
		`href="/reports/report.json?`, `href="/reports/report.html?`,
		"2026-10-31", "n/a",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
	if parseDOM(t, body).has("[style]") || parseDOM(t, body).has("style") || len(parseDOM(t, body).all("script")) != 1 {
		t.Error("the report page carries inline style or script")
	}
	if !strings.Contains(body, "=cmd|&#39; /C calc&#39;!A0") {
		t.Error("an owner named like a formula is not shown as text")
	}
	e.fake.mu.Lock()
	q := e.fake.admin.reports[len(e.fake.admin.reports)-1]
	e.fake.mu.Unlock()
	if q.Group != "web" || q.Severity != "critical" || !q.From.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the backend was asked for %+v", q)
	}
	for _, path := range []string{"/reports?from=yesterday", "/reports?from=2026-10-31&to=2026-10-01", "/reports?group=nope",
		"/reports?severity=worst", "/reports?from=2020-01-01&to=2026-01-01", "/reports?from=2020-01-01", "/reports?from=2027-01-01"} {
		if resp, body := b.get(path); resp.StatusCode != http.StatusBadRequest || !parseDOM(t, body).has("#report-error") {
			t.Errorf("GET %s: %s, want 400 with the reason on the form", path, resp.Status)
		}
	}
}

func TestReportDownloads(t *testing.T) {
	b := newEnv(t).signedIn(policy.RoleAuditor)
	resp, body := b.get("/reports/report.csv?from=2026-10-01&to=2026-10-31")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("CSV: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "report.csv") {
		t.Errorf("CSV Content-Disposition %q", cd)
	}
	// Every cell a spreadsheet would evaluate comes quoted by the backend
	// (metrics.Report.CSV); the console passes the bytes through.
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		for _, cell := range strings.Split(line, ",") {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("CSV cell %q would run as a formula", cell)
			}
		}
	}
	if !strings.Contains(body, "'"+csvFormula) {
		t.Errorf("the CSV lost the quoted formula: %q", body)
	}
	resp, _ = b.get("/reports/report.json")
	if resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("JSON: %q %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	resp, body = b.get("/reports/report.html")
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "default-src 'none'; style-src 'sha256-x'" {
		t.Errorf("the printable page has CSP %q, want the report's own", csp)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline;") || !strings.Contains(body, "Patchbay KPI report") {
		t.Errorf("the printable page is not shown inline")
	}
	if resp, _ := b.get("/reports/report.csv?to=soon"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad date: %s, want 400", resp.Status)
	}
}

func TestDashboardShowsRiskSLAWindowsAndChanges(t *testing.T) {
	b := newEnv(t).signedIn("approver")
	_, body := b.get("/")
	d := parseDOM(t, body)
	for id, want := range map[string]string{"count-overdue": "1", "sla-open": "50.0%", "coverage": "66.7%", "unpatched-critical": "1",
		"count-critical": "1", "count-kev": "1"} {
		if got := d.text("#" + id); got != want {
			t.Errorf("#%s reads %q, want %q", id, got, want)
		}
	}
	if got := d.text("#overdue-owners"); !strings.Contains(got, "data team") || !strings.Contains(got, "<script>alert(1)</script>") {
		t.Errorf("#overdue-owners reads %q, want the data team and the hostile owner as text", got)
	}
	if got := d.text("#upcoming-windows"); !strings.Contains(got, "tuesday-night") || !strings.Contains(got, hostileGroup) {
		t.Errorf("#upcoming-windows reads %q, want tuesday-night and the hostile group as text", got)
	}
	if !d.has("#dashboard-mttp polyline.line.s1") || !d.has(`#open-changes a[href="/changes/c1"]`) {
		t.Error("the dashboard lacks the MTTP line or the link to the open change")
	}
	if n := d.scriptsContaining("alert"); n != 0 {
		t.Errorf("%d hostile strings became script elements", n)
	}
}

func TestChartsBreakAtGapsAndStayInTheirBox(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	dates := []time.Time{day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2), day.AddDate(0, 0, 3), day.AddDate(0, 0, 4)}
	ch := newLineChart("c", "t", dates, []chartSeries{{Name: "a", Class: "s1", Values: []*float64{f(1), f(3), nil, f(2), nil}}}, 0, daysLabel)
	if len(ch.Lines) != 1 || len(ch.Lines[0].Segments) != 1 || len(ch.Lines[0].Dots) != 1 {
		t.Fatalf("lines %+v: want one segment and one lone dot", ch.Lines)
	}
	if got := ch.YTicks[len(ch.YTicks)-1].Label; got != "5 d" {
		t.Errorf("the scale tops out at %q, want 5 d", got)
	}
	if !strings.Contains(ch.Desc, "latest 2 d") {
		t.Errorf("the description %q does not say the latest value", ch.Desc)
	}
	empty := newLineChart("e", "t", dates, []chartSeries{{Name: "a", Class: "s1", Values: make([]*float64, 5)}}, 1, percentLabel)
	if !empty.Empty || len(empty.Lines[0].Segments) != 0 {
		t.Error("a series without data draws something")
	}
	for _, v := range []float64{0.3, 1, 7, 12, 99, 1234} {
		if c := niceCeil(v); c < v || c > 10*v {
			t.Errorf("niceCeil(%v) = %v", v, c)
		}
	}
}
