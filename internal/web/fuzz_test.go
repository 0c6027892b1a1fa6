package web

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

// Query strings come from anyone who can reach the console; parsing them
// must never panic and must keep every bound.

func FuzzParseHostQuery(f *testing.F) {
	for _, s := range []string{"", "q=web&os=debian&stale=yes&limit=20&after=40", "limit=0", "stale=maybe",
		"q=" + url.QueryEscape(xssHostname), "limit=99999999999999999999", "q=%zz", "stale=ON&stale=no"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseHostQuery(v)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("parseHostQuery(%q) returned a %T, want *httpError", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxPageSize || len(q.Search) > maxFilterLen || len(q.OS) > maxFilterLen || len(q.After) > maxFilterLen {
			t.Fatalf("parseHostQuery(%q) = %+v breaks a bound", raw, q)
		}
	})
}

func FuzzParseFindingQuery(f *testing.F) {
	for _, s := range []string{"", "severity=critical&kev=yes&host=h1&limit=5", "severity=CRITICAL", "severity=bad", "kev=1&after=200"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseFindingQuery(v)
		if err != nil {
			return
		}
		if q.Limit < 1 || q.Limit > maxPageSize || len(q.Host) > maxFilterLen || (q.Severity != "" && !strings.Contains(strings.Join(severities, ","), q.Severity)) {
			t.Fatalf("parseFindingQuery(%q) = %+v breaks a bound", raw, q)
		}
		if _, _, err := parseAuditPage(v); err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("parseAuditPage(%q): %T", raw, err)
			}
		}
	})
}

// FuzzSameOrigin: a request judged same-origin by its Origin or Referer
// really names this host.
func FuzzSameOrigin(f *testing.F) {
	f.Add("https://console.example:8443", "", "console.example:8443")
	f.Add("", "https://console.example:8443/hosts?q=a", "console.example:8443")
	f.Add("null", "", "console.example")
	f.Add("https://evil.example", "https://console.example/", "console.example")
	f.Add("https://console.example@evil.example", "", "console.example")
	f.Fuzz(func(t *testing.T, origin, referer, host string) {
		if !sameOrigin(origin, referer, host) {
			return
		}
		switch {
		case origin != "":
			if urlHost(origin) != host || host == "" {
				t.Fatalf("Origin %q accepted for host %q", origin, host)
			}
		case referer != "":
			if urlHost(referer) != host || host == "" {
				t.Fatalf("Referer %q accepted for host %q", referer, host)
			}
		}
	})
}

// FuzzSafeNext: the page after sign-in is always on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/hosts?q=a", "//evil.example", "/\\evil", "https://evil.example", "/%2F%2Fevil", "\t//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}

// The seed corpus in testdata/fuzz must stay readable by the fuzz targets.
func TestFuzzCorpusIsPresent(t *testing.T) {
	for _, dir := range []string{"FuzzParseHostQuery", "FuzzSameOrigin", "FuzzParseChangeForm", "FuzzParseSignOff"} {
		if entries, err := os.ReadDir("testdata/fuzz/" + dir); err != nil || len(entries) == 0 {
			t.Errorf("testdata/fuzz/%s has no seeds: %v", dir, err)
		}
	}
}

// FuzzParseChangeForm: a create form the parser accepts keeps every bound,
// and only names known groups.
func FuzzParseChangeForm(f *testing.F) {
	for _, s := range []string{
		createForm().Encode(),
		"title=x&advisory=CVE-2024-3094&group=web",
		"title=&advisory=&group=mainframes&batch_size=0&failure_budget=-1",
		"title=x&advisory=ALSA-2025%3A10073&advisory=ALSA-2025%3A10073&group=web&group=web&batch_size=10000",
		"title=x&advisory=CVE%201&group=" + url.QueryEscape(hostileGroup) + "&batch_size=99999999999999999999",
	} {
		f.Add(s)
	}
	known := []string{"web", "databases", hostileGroup}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		form := parseChangeForm(v, known)
		if len(form.problems) > 0 {
			return
		}
		req := form.req
		if req.Title == "" || len(req.Title) > maxTitleLen || req.BatchSize < 1 || req.BatchSize > maxBatchSize ||
			req.FailureBudget < 0 || req.FailureBudget > maxBatchSize {
			t.Fatalf("parseChangeForm(%q) = %+v breaks a bound", raw, req)
		}
		if len(req.Advisories) == 0 || len(req.Advisories) > maxChangeAdvisories || len(req.Groups) == 0 {
			t.Fatalf("parseChangeForm(%q) accepted %d advisories and %d groups", raw, len(req.Advisories), len(req.Groups))
		}
		for i, a := range req.Advisories {
			if !validAdvisoryID(a) || slices.Contains(req.Advisories[:i], a) {
				t.Fatalf("parseChangeForm(%q) accepted advisory %q", raw, a)
			}
		}
		for i, g := range req.Groups {
			if !slices.Contains(known, g) || slices.Contains(req.Groups[:i], g) {
				t.Fatalf("parseChangeForm(%q) accepted group %q", raw, g)
			}
		}
	})
}

// FuzzParseSignOff: an accepted sign-off names a group and is either OK
// without a problem or a problem with a bounded description.
func FuzzParseSignOff(f *testing.F) {
	for _, s := range []string{"group=web&ok=1", "group=web&ok=0&problem=login+fails", "group=&ok=1", "group=web&ok=0&problem=+", "group=web&ok=yes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		in, problem := parseSignOff(v)
		if problem != "" {
			return
		}
		if in.group == "" || len(in.group) > maxGroupLen || (in.ok && in.problem != "") ||
			(!in.ok && (in.problem == "" || len(in.problem) > maxProblemLen)) {
			t.Fatalf("parseSignOff(%q) = %+v", raw, in)
		}
	})
}
