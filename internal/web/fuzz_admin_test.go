package web

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The settings forms and the report's query come from the user's browser;
// parsing them must never panic and must keep every bound.

func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"", "env=prod, site=fra1", "env=prod\nsite=fra1", "no-equals", "=v", "k=", "a=b=c",
		strings.Repeat("k=v,", 30), "k=" + xssHostname} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		labels, problem := parseLabels(raw)
		if problem != "" {
			if labels != nil {
				t.Fatalf("parseLabels(%q) gave labels and a problem", raw)
			}
			return
		}
		if len(labels) > maxEnrollLabels {
			t.Fatalf("parseLabels(%q) gave %d labels", raw, len(labels))
		}
		for k, v := range labels {
			if k == "" || len(k) > maxLabelPartLen || len(v) > maxLabelPartLen || strings.ContainsAny(k+v, ",\n\r") {
				t.Fatalf("parseLabels(%q) gave %q=%q", raw, k, v)
			}
		}
	})
}

func FuzzParseReportQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-10-01&to=2026-10-31&team=platform&group=web&severity=critical", "from=yesterday",
		"from=2026-10-31&to=2026-10-01", "from=2000-01-01&to=2026-01-01", "group=" + url.QueryEscape(hostileGroup), "severity=CRITICAL"} {
		f.Add(s)
	}
	teams, groups := []string{"platform", "data"}, []string{"web", "databases", hostileGroup}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		q, _, problem := parseReportQuery(v, teams, groups, now)
		if problem != "" {
			return
		}
		if (q.Team != "" && !slices.Contains(teams, q.Team)) || (q.Group != "" && !slices.Contains(groups, q.Group)) ||
			(q.Severity != "" && !slices.Contains(severities, q.Severity)) {
			t.Fatalf("parseReportQuery(%q) = %+v: an unknown scope passed", raw, q)
		}
		end := q.To
		if end.IsZero() {
			end = now
		}
		if !q.From.IsZero() && (q.From.After(end) || end.Sub(q.From) > maxReportDays*24*time.Hour) {
			t.Fatalf("parseReportQuery(%q) = %v to %v: a period out of bounds passed", raw, q.From, q.To)
		}
	})
}
