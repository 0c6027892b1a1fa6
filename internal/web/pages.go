package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

type dashboardView struct {
	Hosts, StaleHosts int
	ShowFindings      bool
	Counts            []severityCount
	KEV               int
	Top               []Finding
	// Status is the fleet's risk, SLA and coverage, windows and open
	// changes (nil without permission to read reports).
	Status      *DashboardStatus
	Trend       *lineChart
	Backlog     *lineChart // open and overdue findings per day
	ShowChanges bool
}

type severityCount struct {
	Severity string
	N        int
}

// dashboard shows the fleet at a glance: two host counts, the top ten
// findings, and Backend.Dashboard, whose open-finding counts (one grouped
// query) and KPIs the server computes at most once a minute and shares.
func (c *console) dashboard(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	var v dashboardView
	var err error
	if _, _, v.Hosts, err = c.b.Hosts(ctx, HostQuery{Limit: 1}); err != nil {
		return err
	}
	stale := true
	if _, _, v.StaleHosts, err = c.b.Hosts(ctx, HostQuery{Stale: &stale, Limit: 1}); err != nil {
		return err
	}
	st, err := c.b.Dashboard(ctx)
	if err != nil {
		return err
	}
	if c.b.Allowed(rc.user, permVulnsRead) {
		v.ShowFindings = true
		for _, s := range severities {
			v.Counts = append(v.Counts, severityCount{s, st.BySeverity[s]})
		}
		v.KEV = st.KEV
		if v.Top, _, err = c.b.Findings(ctx, FindingQuery{Limit: 10}); err != nil {
			return err
		}
	}
	if c.b.Allowed(rc.user, permReportsRead) {
		v.Status = &st
		trend := kpiCharts("dashboard", st.Trend)[0]
		v.Trend = &trend
		backlog := backlogChart("dashboard", st.Trend)
		v.Backlog = &backlog
	}
	v.ShowChanges = c.b.Allowed(rc.user, permChangesRead)
	c.render(w, r, rc, http.StatusOK, "dashboard.html", "Dashboard", v)
	return nil
}

type hostListView struct {
	Query     HostQuery
	Stale     string
	Hosts     []Host
	Total     int
	NextURL   string
	FirstURL  string
	HasFilter bool
}

func (c *console) hostList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q, err := parseHostQuery(r.URL.Query())
	if err != nil {
		return err
	}
	hosts, next, total, err := c.b.Hosts(r.Context(), q)
	if err != nil {
		return err
	}
	v := hostListView{Query: q, Stale: r.URL.Query().Get("stale"), Hosts: hosts, Total: total,
		HasFilter: q.Search != "" || q.OS != "" || q.Stale != nil}
	if next != "" {
		v.NextURL = pageURL("/hosts", r.URL.Query(), "after", next)
	}
	if q.After != "" {
		v.FirstURL = pageURL("/hosts", r.URL.Query(), "after", "")
	}
	c.render(w, r, rc, http.StatusOK, "hosts.html", "Hosts", v)
	return nil
}

// pageURL is path with the query v, key set to val (or removed when empty).
func pageURL(path string, v url.Values, key, val string) string {
	q := url.Values{}
	for k, vs := range v {
		q[k] = slices.Clone(vs)
	}
	if val == "" {
		q.Del(key)
	} else {
		q.Set(key, val)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

type hostView struct {
	Host         Host
	Packages     []Package
	Findings     []Finding
	ShowFindings bool
	// The findings and packages are shown a page at a time.
	FindingPage, PackagePage hostPager
}

// hostPager is one page of a host page's list: rows First–Last of Total.
type hostPager struct {
	First, Last, Total int
	PrevURL, NextURL   string
}

// hostPageSize is how many findings or packages a host page shows at once.
const hostPageSize = 100

// pageSlice returns the page of rows that ?param= (1-based) asks for, and
// its pager; the other parameters of v are kept in the links.
func pageSlice[T any](rows []T, v url.Values, path, param string) ([]T, hostPager) {
	n := atoiOr(v.Get(param), 1)
	pages := max(1, (len(rows)+hostPageSize-1)/hostPageSize)
	n = min(max(n, 1), pages)
	lo, hi := (n-1)*hostPageSize, min(n*hostPageSize, len(rows))
	p := hostPager{First: lo + 1, Last: hi, Total: len(rows)}
	if len(rows) == 0 {
		p.First = 0
	}
	if n > 1 {
		p.PrevURL = pageURL(path, v, param, strconv.Itoa(n-1))
	}
	if n < pages {
		p.NextURL = pageURL(path, v, param, strconv.Itoa(n+1))
	}
	return rows[lo:hi], p
}

func (c *console) hostDetail(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	h, pkgs, findings, err := c.b.Host(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	path := "/hosts/" + url.PathEscape(h.ID)
	v := hostView{Host: h, ShowFindings: c.b.Allowed(rc.user, permVulnsRead)}
	v.Packages, v.PackagePage = pageSlice(pkgs, r.URL.Query(), path, "packages")
	if v.ShowFindings {
		v.Findings, v.FindingPage = pageSlice(findings, r.URL.Query(), path, "findings")
	}
	c.render(w, r, rc, http.StatusOK, "host.html", "Host "+h.Hostname, v)
	return nil
}

type vulnListView struct {
	Views      []rollupTab
	Total      int // findings matching, all pages
	MoreThan   int // when set, more than this many match (the count stopped there)
	First      int // the place of the page's first and last finding in the whole list
	Last       int
	Query      FindingQuery
	KEV        string
	Severities []string
	Findings   []Finding
	NextURL    string
	FirstURL   string
	Rank       int  // rank of the first finding shown, minus one
	CanCreate  bool // the user may create a change from selected findings
	CanExcept  bool // the user may request an exception for a finding
}

// vulnList is /vulns: every open finding ranked (by=finding, the
// default), or the findings grouped (by=advisory, host or package).
func (c *console) vulnList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if by := r.URL.Query().Get("by"); by != "" && by != "finding" {
		return c.rollupList(w, r, rc)
	}
	q, err := parseFindingQuery(r.URL.Query())
	if err != nil {
		return err
	}
	findings, next, err := c.b.Findings(r.Context(), q)
	if err != nil {
		return err
	}
	total, err := c.b.CountFindings(r.Context(), q)
	if err != nil {
		return err
	}
	v := vulnListView{Query: q, KEV: r.URL.Query().Get("kev"), Severities: severities, Findings: findings, Views: viewTabs(r.URL.Query(), "finding"),
		Total:     total,
		CanCreate: c.b.Allowed(rc.user, permChangesCreate), CanExcept: c.b.Allowed(rc.user, permExceptionsRequest)}
	// "skip" travels with the cursor: how many findings earlier pages showed.
	v.Rank = atoiOr(r.URL.Query().Get("skip"), 0)
	if total > FindingCountCap {
		v.MoreThan = FindingCountCap
	}
	v.First, v.Last = v.Rank+1, v.Rank+len(findings)
	if next != "" {
		nq := url.Values{}
		for k, vs := range r.URL.Query() {
			nq[k] = slices.Clone(vs)
		}
		nq.Set("skip", strconv.Itoa(v.Last))
		v.NextURL = pageURL("/vulns", nq, "after", next)
	}
	if q.After != "" {
		fq := url.Values{}
		for k, vs := range r.URL.Query() {
			fq[k] = slices.Clone(vs)
		}
		fq.Del("skip")
		v.FirstURL = pageURL("/vulns", fq, "after", "")
	}
	c.render(w, r, rc, http.StatusOK, "vulns.html", "Vulnerabilities", v)
	return nil
}

func (c *console) changeList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	changes, err := c.b.Changes(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, rc, http.StatusOK, "changes.html", "Changes", changes)
	return nil
}

type changeView struct {
	Change   Change
	Rings    []ring
	Actions  []actionButton
	Done     string // confirmation after an action
	SignOffs []signOffForm
	Error    string // why the last sign-off was not recorded
}

type ring struct {
	Ring     int
	Name     string // the ring's name in the plan, "" when unknown
	Hosts    []ChangeHost
	Progress ringProgress
}

// ringProgress counts a ring's hosts by where they stand, for its
// progress bar: done (succeeded or rolled back as asked), in flight
// (install, reboot, restart or rollback under way), failed (failed,
// rollback failed), pending (planned, not dispatched) and excluded.
type ringProgress struct {
	Done, InFlight, Failed, Pending, Excluded int
	Bar                                       []barSegment
}

// barSegment is one coloured part of a progress bar, in percent of its
// width (SVG attributes: the pages have no inline style).
type barSegment struct {
	Class, Label string
	X, W         float64
}

func progressOf(hosts []ChangeHost) ringProgress {
	var p ringProgress
	for _, h := range hosts {
		switch h.Status {
		case "succeeded", "rolled-back":
			p.Done++
		case "in-flight", "rolling-back":
			p.InFlight++
		case "failed", "rollback-failed":
			p.Failed++
		case "excluded":
			p.Excluded++
		default: // pending, planned
			p.Pending++
		}
	}
	x := 0.0
	for _, seg := range []struct {
		class, label string
		n            int
	}{{"p-done", "done", p.Done}, {"p-flight", "in flight", p.InFlight}, {"p-failed", "failed", p.Failed},
		{"p-excluded", "excluded", p.Excluded}, {"p-pending", "pending", p.Pending}} {
		if seg.n == 0 {
			continue
		}
		w := 100 * float64(seg.n) / float64(len(hosts))
		p.Bar = append(p.Bar, barSegment{Class: seg.class, Label: seg.label, X: x, W: w})
		x += w
	}
	return p
}

type actionButton struct{ Action, Label string }

func (c *console) changeDetail(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ch, err := c.b.Change(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.renderChange(w, r, rc, http.StatusOK, ch, changeView{Done: doneMessage(r.URL.Query().Get("done"))})
	return nil
}

// renderChange shows the change with the buttons and sign-off forms u may
// use; v carries any notice, error or draft problem text.
func (c *console) renderChange(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, ch Change, v changeView) {
	v.Rings = groupRings(ch.Hosts)
	if ch.Plan != nil {
		for i, rg := range v.Rings {
			if rg.Ring >= 0 && rg.Ring < len(ch.Plan.Rings) {
				v.Rings[i].Name = ch.Plan.Rings[rg.Ring]
			}
		}
	}
	if acts, err := c.b.ChangeActions(r.Context(), rc.user, ch.ID); err == nil {
		ch.Actions = acts
	}
	for _, a := range changeActions {
		if slices.Contains(ch.Actions, a.action) && c.b.Allowed(rc.user, a.perm) {
			v.Actions = append(v.Actions, actionButton{a.action, a.label})
		}
	}
	v.Change = ch
	v.SignOffs = c.signOffForms(rc.user, ch, v.SignOffs)
	c.render(w, r, rc, status, "change.html", "Change "+ch.Title, v)
}

// doneMessage is the confirmation shown after the action named done.
func doneMessage(done string) string {
	switch done {
	case "create":
		return "Change created and submitted for approval."
	case "signoff":
		return "Sign-off recorded."
	}
	for _, a := range changeActions {
		if a.action == done {
			return a.done
		}
	}
	return ""
}

func groupRings(hosts []ChangeHost) []ring {
	var rings []ring
	for _, h := range hosts {
		i := slices.IndexFunc(rings, func(rg ring) bool { return rg.Ring == h.Ring })
		if i < 0 {
			rings = append(rings, ring{Ring: h.Ring})
			i = len(rings) - 1
		}
		rings[i].Hosts = append(rings[i].Hosts, h)
	}
	slices.SortStableFunc(rings, func(a, b ring) int { return a.Ring - b.Ring })
	for i := range rings {
		rings[i].Progress = progressOf(rings[i].Hosts)
	}
	return rings
}

// changeStatusJSON is what the change page's script polls.
type changeStatusJSON struct {
	ID    string           `json:"id"`
	State string           `json:"state"`
	Hosts []hostStatusJSON `json:"hosts"`
}

type hostStatusJSON struct {
	HostID string `json:"host_id"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func (c *console) changeStatus(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ch, err := c.b.Change(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := changeStatusJSON{ID: ch.ID, State: ch.State, Hosts: []hostStatusJSON{}}
	for _, h := range ch.Hosts {
		out.Hosts = append(out.Hosts, hostStatusJSON{h.HostID, h.Status, h.Detail})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// changeAction handles the POST of one action button, then goes back to
// the change (post, redirect, get).
func (c *console) changeAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		id := r.PathValue("id")
		if err := c.b.ChangeAction(r.Context(), rc.user, id, action); err != nil {
			return err
		}
		http.Redirect(w, r, "/changes/"+url.PathEscape(id)+"?done="+action, http.StatusSeeOther)
		return nil
	}
}

type auditView struct {
	Entries  []AuditEntry
	OlderURL string
	NewerURL string
}

func (c *console) auditLog(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	from, limit, err := parseAuditPage(r.URL.Query())
	if err != nil {
		return err
	}
	entries, err := c.b.Audit(r.Context(), from, limit)
	if err != nil {
		return err
	}
	v := auditView{Entries: entries}
	if len(entries) == limit {
		v.OlderURL = pageURL("/audit", r.URL.Query(), "from", strconv.Itoa(from+limit))
	}
	if from > 0 {
		v.NewerURL = pageURL("/audit", r.URL.Query(), "from", strconv.Itoa(max(0, from-limit)))
	}
	c.render(w, r, rc, http.StatusOK, "audit.html", "Audit log", v)
	return nil
}
