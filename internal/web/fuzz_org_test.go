package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The organisation pages' forms and query strings come from anyone who can
// reach the console; parsing them must never panic and must keep every
// bound the backend relies on.

func FuzzParseExceptionForm(f *testing.F) {
	for _, s := range []string{"", "advisory=CVE-2024-3094&scope=group&group=databases&justification=x&expires=2026-12-24",
		"package=openssl&scope=host&host=h1&team=web+team&justification=y&expires=2027-11-25", "scope=host&expires=2026-02-30",
		"advisory=" + url.QueryEscape(xssHostname) + "&scope=group&group=" + url.QueryEscape(hostileGroup), "expires=9999-12-31&scope=group"} {
		f.Add(s)
	}
	groups, teams := []string{"web", "databases", hostileGroup}, []string{"web team", "data team"}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, view := parseExceptionForm(v, groups, teams, now)
		if len(view.Errors) > 0 {
			return
		}
		switch {
		case req.Advisory == "" && req.Package == "",
			req.Advisory != "" && !validAdvisoryID(req.Advisory),
			len(req.Package) > maxRefLen,
			req.Group == "" && req.Host == "",
			req.Group != "" && !strings.Contains(strings.Join(groups, "\n"), req.Group),
			req.Host != "" && (req.Team == "" || len(req.Host) > maxRefLen),
			req.Justification == "" || len(req.Justification) > maxJustificationLen,
			!req.Expires.After(now) || req.Expires.Sub(now) > maxExceptionDays*24*time.Hour:
			t.Fatalf("parseExceptionForm(%q) accepted %+v", raw, req)
		}
	})
}

func FuzzParseKBForm(f *testing.F) {
	for _, s := range []string{"", "title=t&problem=p&packages=openssl+3.0.2%0Alibc6&status=draft&changes=c1,c2&hosts=h1",
		"title=t&problem=p&packages=-oDebug%3A%3Ax&status=published", "packages=a%0D%0Ab+1+2+3&status=draft",
		"title=" + url.QueryEscape(xssHostname) + "&problem=x&packages=x&status=published"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		e, view := parseKBForm(v)
		if len(view.Errors) > 0 {
			return
		}
		if e.Title == "" || len(e.Title) > maxTitleLen || e.Problem == "" || len(e.Packages) == 0 || len(e.Packages) > maxKBPackages ||
			(e.Status != kbStatusDraft && e.Status != kbStatusPublic) || len(e.Changes) > maxKBRefs || len(e.Hosts) > maxKBRefs {
			t.Fatalf("parseKBForm(%q) accepted %+v", raw, e)
		}
		for _, p := range e.Packages {
			if !validPackageName(p.Name) || len(p.Versions) > maxKBVersions {
				t.Fatalf("parseKBForm(%q) accepted the package %+v", raw, p)
			}
		}
	})
}

func FuzzParseCalendarRange(f *testing.F) {
	for _, s := range []string{"", "month=2026-11", "week=2026-11-25", "month=2026-13", "week=2200-12-31", "month=0001-01&week=x"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		from, to, week, err := parseCalendarRange(v, now)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("parseCalendarRange(%q) returned a %T, want *httpError", raw, err)
			}
			return
		}
		days := to.Sub(from).Hours() / 24
		if !to.After(from) || (week && (days != 7 || from.Weekday() != time.Monday)) || (!week && (days < 28 || days > 31 || from.Day() != 1)) {
			t.Fatalf("parseCalendarRange(%q) = %v to %v (week %v)", raw, from, to, week)
		}
	})
}
