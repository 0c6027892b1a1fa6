package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RollupQuery filters, sorts and pages open findings grouped by advisory,
// host or package.
type RollupQuery struct {
	By           string // advisory, host or package
	Host         string // hostname or host ID, "" for any
	Severity     string // critical, high, medium, low, unknown; "" for any
	KEV          *bool
	FixAvailable *bool
	Overdue      bool
	Advisory     string // only this advisory
	Package      string // only this package name
	Sort, Order  string // a column of rollupColumns[By]; asc or desc ("": the column's natural order)
	Limit        int
	After        string
}

// RollupRow is one group of open findings. Every count of hosts is of
// distinct hosts.
type RollupRow struct {
	Key      string // advisory ID, host ID or package name
	Label    string // hostname (by host); the key otherwise
	Summary  string // by advisory
	Severity string // by advisory
	Priority int    // the highest among the findings
	Findings int    // open findings
	Excepted int    // of which an exception accepts the risk
	Hosts    int    // distinct hosts
	// Advisories counts distinct advisories; FixHosts the distinct hosts
	// whose repositories offer a fix, FixFindings the findings.
	Advisories, FixHosts, FixFindings int
	KEV, Overdue                      int     // findings in CISA KEV, past their due date
	EPSS                              float64 // the highest EPSS score; -1 unknown
	Due                               time.Time
}

// RollupBackend is what the grouped findings views need (Backend embeds it).
type RollupBackend interface {
	// FindingRollup lists a page of open findings grouped by q.By, the
	// cursor of the next page ("" at the end) and how many groups match.
	FindingRollup(ctx context.Context, q RollupQuery) (rows []RollupRow, next string, total int, err error)
	// CountFindings counts the findings q selects (its Limit and After
	// aside): the total of the ranked list. It may stop counting past
	// FindingCountCap and answer FindingCountCap+1 ("more than").
	CountFindings(ctx context.Context, q FindingQuery) (int, error)
}

// FindingCountCap is where the ranked list's count may stop: counting
// 200,000 open findings would cost the page more than its 150 ms.
const FindingCountCap = 10000

// rollupColumns are the sortable columns of each view, as the page names
// them, with their headings.
var rollupColumns = map[string][][2]string{
	"advisory": {{"advisory", "Advisory"}, {"priority", "Priority"}, {"hosts", "Hosts"}, {"findings", "Findings"},
		{"excepted", "Excepted"}, {"fix_hosts", "Fix available on"}, {"kev", "KEV"}, {"epss", "EPSS"}, {"overdue", "Overdue"}, {"due", "Due"}},
	"host": {{"hostname", "Host"}, {"priority", "Priority"}, {"advisories", "Advisories"}, {"findings", "Findings"},
		{"excepted", "Excepted"}, {"fix_findings", "Fix available"}, {"kev", "KEV"}, {"overdue", "Overdue"}, {"due", "Due"}},
	"package": {{"package", "Package"}, {"priority", "Priority"}, {"hosts", "Hosts"}, {"advisories", "Advisories"},
		{"findings", "Findings"}, {"excepted", "Excepted"}, {"fix_hosts", "Fix available on"}, {"kev", "KEV"}, {"epss", "EPSS"},
		{"overdue", "Overdue"}, {"due", "Due"}},
}

// parseRollupQuery reads a grouped view's filters, sort and page.
func parseRollupQuery(v url.Values) (RollupQuery, error) {
	q := RollupQuery{By: v.Get("by"), Host: strings.TrimSpace(v.Get("host")), Severity: strings.ToLower(strings.TrimSpace(v.Get("severity"))),
		Advisory: strings.TrimSpace(v.Get("advisory")), Package: strings.TrimSpace(v.Get("package")),
		Sort: v.Get("sort"), Order: v.Get("order"), After: v.Get("after")}
	for _, s := range []string{q.Host, q.Advisory, q.Package, q.After} {
		if len(s) > maxFilterLen {
			return RollupQuery{}, badField("host, advisory, package or after", "is longer than %d characters", maxFilterLen)
		}
	}
	cols, ok := rollupColumns[q.By]
	if !ok {
		return RollupQuery{}, badField("by", "must be advisory, host, package or finding")
	}
	if q.Sort != "" && !slices.ContainsFunc(cols, func(c [2]string) bool { return c[0] == q.Sort }) {
		return RollupQuery{}, badField("sort", "must be a column of the table")
	}
	if q.Order != "" && q.Order != "asc" && q.Order != "desc" {
		return RollupQuery{}, badField("order", "must be asc or desc")
	}
	if q.Severity != "" && !slices.Contains(severities, q.Severity) {
		return RollupQuery{}, badField("severity", "must be one of %s", strings.Join(severities, ", "))
	}
	var err error
	if q.KEV, err = parseTriState(v.Get("kev")); err != nil {
		return RollupQuery{}, badField("kev", "must be yes, no or empty")
	}
	if q.FixAvailable, err = parseTriState(v.Get("fix")); err != nil {
		return RollupQuery{}, badField("fix", "must be yes, no or empty")
	}
	od, err := parseTriState(v.Get("overdue"))
	if err != nil {
		return RollupQuery{}, badField("overdue", "must be yes, no or empty")
	}
	q.Overdue = od != nil && *od
	if q.Limit, err = parseLimit(v.Get("limit")); err != nil {
		return RollupQuery{}, err
	}
	return q, nil
}

type rollupHeading struct {
	Label, URL string
	Sorted     string // "ascending", "descending" or "" (for aria-sort)
}

type rollupView struct {
	Query                 RollupQuery
	KEV, Fix, Overdue     string
	Severities            []string
	Views                 []rollupTab
	Headings              []rollupHeading
	Rows                  []RollupRow
	Total, First, Last    int
	NextURL, FirstURL     string
	ClearURL, FindingsURL string
}

type rollupTab struct {
	Label, URL string
	Current    bool
}

// viewTabs link the four views of the findings, keeping the filters.
func viewTabs(v url.Values, by string) []rollupTab {
	var out []rollupTab
	for _, t := range [][2]string{{"advisory", "By advisory"}, {"host", "By host"}, {"package", "By package"}, {"finding", "Each finding"}} {
		q := url.Values{}
		for _, k := range []string{"severity", "kev", "host"} {
			if x := v.Get(k); x != "" {
				q.Set(k, x)
			}
		}
		q.Set("by", t[0])
		out = append(out, rollupTab{Label: t[1], URL: "/vulns?" + q.Encode(), Current: t[0] == by})
	}
	return out
}

// rollupList is /vulns?by=advisory|host|package: the open findings
// grouped, with totals, sortable columns and pages.
func (c *console) rollupList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	v := r.URL.Query()
	q, err := parseRollupQuery(v)
	if err != nil {
		return err
	}
	rows, next, total, err := c.b.FindingRollup(r.Context(), q)
	if err != nil {
		return err
	}
	view := rollupView{Query: q, KEV: v.Get("kev"), Fix: v.Get("fix"), Overdue: v.Get("overdue"), Severities: severities,
		Views: viewTabs(v, q.By), Rows: rows, Total: total, ClearURL: "/vulns?by=" + url.QueryEscape(q.By)}
	if len(rows) > 0 {
		// The page's place in the whole list, counted from the rows the
		// cursor skipped: "skip" travels with the cursor.
		skip := atoiOr(v.Get("skip"), 0)
		view.First, view.Last = skip+1, skip+len(rows)
		if next != "" {
			nq := url.Values{}
			for k, vs := range v {
				nq[k] = slices.Clone(vs)
			}
			nq.Set("after", next)
			nq.Set("skip", itoa(view.Last))
			view.NextURL = "/vulns?" + nq.Encode()
		}
	}
	if q.After != "" {
		fq := url.Values{}
		for k, vs := range v {
			fq[k] = slices.Clone(vs)
		}
		fq.Del("after")
		fq.Del("skip")
		view.FirstURL = "/vulns?" + fq.Encode()
	}
	for _, col := range rollupColumns[q.By] {
		h := rollupHeading{Label: col[1]}
		sq := url.Values{}
		for k, vs := range v {
			sq[k] = slices.Clone(vs)
		}
		sq.Del("after")
		sq.Del("skip")
		sq.Set("sort", col[0])
		sorted := q.Sort == col[0] || (q.Sort == "" && col[0] == "priority")
		if sorted {
			asc := q.Order == "asc" || (q.Order == "" && naturalAscending(col[0]))
			h.Sorted = "descending"
			if asc {
				h.Sorted = "ascending"
			}
			// A second click reverses the order.
			if asc {
				sq.Set("order", "desc")
			} else {
				sq.Set("order", "asc")
			}
		} else {
			sq.Del("order")
		}
		h.URL = "/vulns?" + sq.Encode()
		view.Headings = append(view.Headings, h)
	}
	c.render(w, r, rc, http.StatusOK, "vulns_rollup.html", "Vulnerabilities", view)
	return nil
}

// naturalAscending: names and due dates sort A to Z and soonest first;
// numbers largest first.
func naturalAscending(col string) bool {
	switch col {
	case "advisory", "hostname", "package", "due":
		return true
	}
	return false
}

// atoiOr is s as a number from 0, or def.
func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1_000_000_000 {
		return def
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
