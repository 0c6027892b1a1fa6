package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/metrics"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// The console's settings, reports and dashboard (web.AdminBackend). Every
// action runs the function the API's handler runs, after the same
// permission check, and is written to the audit trail; secrets go to the
// user once and never into the audit trail or a log.

// begin starts the audit record of a console action that changes
// something: the store appends it in the transaction of the change (see
// store.WithAudit), and the server method it calls says what it did
// (auditSummary).
func (b consoleBackend) begin(ctx context.Context, u web.User, action, target string) context.Context {
	return store.WithAudit(ctx, store.NewPendingAudit(audit.Entry{Time: b.s.now(), Actor: u.Username,
		Action: "console " + action, Target: target, Outcome: "ok"}))
}

// audited finishes the record of a console action: nothing more when its
// change stored it, a second entry when it failed after that, the whole
// entry when nothing was stored (a refusal, an error, an action that
// changes nothing itself).
func (b consoleBackend) audited(ctx context.Context, u web.User, action, target string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error: " + err.Error()
	}
	if p := store.AuditFrom(ctx); p != nil && len(p.Stored()) > 0 {
		if err == nil {
			return
		}
		target += " (after its change was stored)"
	}
	if aerr := b.s.audit.record(context.WithoutCancel(ctx), audit.Entry{Actor: u.Username, Action: "console " + action,
		Target: target, Outcome: outcome}); aerr != nil {
		b.s.log.Error("audit append failed", "err", aerr, "action", action)
	}
}

// adminError maps the API's errors onto the console's: a 400 or 401 says
// what the user must fix, shown on the form.
func adminError(err error) error {
	err = asStatus(err)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized) {
		return &web.FormError{Message: e.Message}
	}
	if errors.As(err, &e) && e.Status == http.StatusConflict {
		return fmt.Errorf("%s: %w", e.Message, web.ErrConflict)
	}
	return consoleError(err)
}

func (b consoleBackend) principal(u web.User) Principal {
	return Principal{UserID: u.ID, Role: u.Role, TokenID: "console"}
}

func (b consoleBackend) Roles() []string { return Roles() }

func (b consoleBackend) Users(ctx context.Context) ([]web.UserInfo, error) {
	us, err := b.s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, web.UserInfo{ID: u.ID, Username: u.Username, Role: u.Role, Created: u.CreatedAt, Disabled: u.DisabledAt != nil})
	}
	return out, nil
}

func (b consoleBackend) CreateUser(ctx context.Context, u web.User, username, role, password string) (web.UserInfo, string, error) {
	if err := requireRole(u, PermUsersManage); err != nil {
		return web.UserInfo{}, "", err
	}
	ctx = b.begin(ctx, u, "user.create", "user "+username+" role "+role)
	nu, pw, err := b.s.createUser(ctx, username, role, password, "")
	b.audited(ctx, u, "user.create", "user "+username+" role "+role, err)
	if err != nil {
		return web.UserInfo{}, "", adminError(err)
	}
	return web.UserInfo{ID: nu.ID, Username: nu.Username, Role: nu.Role, Created: nu.CreatedAt}, pw, nil
}

func (b consoleBackend) SetUserRole(ctx context.Context, u web.User, id, role string) error {
	if err := requireRole(u, PermUsersManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "user.role", "user "+b.userName(ctx, id)+" role "+role)
	t, err := b.s.setUserRole(ctx, b.principal(u), id, role)
	b.audited(ctx, u, "user.role", "user "+cmpOr(t.Username, id)+" role "+role, err)
	return adminError(err)
}

func (b consoleBackend) DisableUser(ctx context.Context, u web.User, id string) error {
	if err := requireRole(u, PermUsersManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "user.disable", "user "+b.userName(ctx, id))
	t, err := b.s.disableUser(ctx, b.principal(u), id)
	b.audited(ctx, u, "user.disable", "user "+cmpOr(t.Username, id), err)
	return adminError(err)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (b consoleBackend) ChangePassword(ctx context.Context, u web.User, current, next string) error {
	ctx = b.begin(ctx, u, "user.password", "user "+u.Username)
	err := b.s.changePassword(ctx, u.ID, current, next, web.RemoteAddr(ctx))
	b.audited(ctx, u, "user.password", "user "+u.Username, err)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return web.ErrBadLogin
	}
	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %s", web.ErrThrottled, e.Message)
	}
	return adminError(err)
}

func (b consoleBackend) APITokens(ctx context.Context) ([]web.APIToken, error) {
	ts, err := b.s.store.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	names := b.usernames(ctx)
	now := b.s.now()
	out := make([]web.APIToken, 0, len(ts))
	for _, t := range ts {
		v := web.APIToken{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Role: t.Role, Owner: cmpOr(names[t.UserID], t.UserID),
			State: "active", Created: t.CreatedAt}
		if t.ExpiresAt != nil {
			v.Expires = *t.ExpiresAt
			if !now.Before(*t.ExpiresAt) {
				v.State = "expired"
			}
		}
		if t.LastUsedAt != nil {
			v.LastUsed = *t.LastUsedAt
		}
		if t.RevokedAt != nil {
			v.State = "revoked"
		}
		out = append(out, v)
	}
	return out, nil
}

// usernames maps user IDs to names, for lists of tokens.
func (b consoleBackend) usernames(ctx context.Context) map[string]string {
	m := map[string]string{}
	if us, err := b.s.store.ListUsers(ctx); err == nil {
		for _, u := range us {
			m[u.ID] = u.Username
		}
	}
	return m
}

// durationText writes d as the API's expires field ("720h").
func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
}

func (b consoleBackend) CreateAPIToken(ctx context.Context, u web.User, req web.APITokenRequest) (web.APIToken, string, error) {
	if err := requireRole(u, PermTokensManage); err != nil {
		return web.APIToken{}, "", err
	}
	ctx = b.begin(ctx, u, "token.create", "API token "+strconv.Quote(req.Name)+" role "+req.Role)
	v, err := b.s.createAPIToken(ctx, b.principal(u), api.CreateAPITokenRequest{Name: req.Name, Role: req.Role, Expires: durationText(req.Expires)})
	b.audited(ctx, u, "token.create", "API token "+v.Prefix+" "+strconv.Quote(req.Name)+" role "+req.Role, err)
	if err != nil {
		return web.APIToken{}, "", adminError(err)
	}
	t := web.APIToken{ID: v.ID, Name: v.Name, Prefix: v.Prefix, Role: v.Role, Owner: u.Username, State: "active", Created: v.CreatedAt}
	if v.ExpiresAt != nil {
		t.Expires = *v.ExpiresAt
	}
	return t, v.Token, nil
}

func (b consoleBackend) RevokeAPIToken(ctx context.Context, u web.User, id string) error {
	if err := requireRole(u, PermTokensManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "token.revoke", "API token "+id)
	auditSummary(ctx, "%s revoked", b.s.describeAPIToken(ctx, id))
	err := b.s.store.RevokeAPIToken(ctx, id, b.s.now())
	b.audited(ctx, u, "token.revoke", "API token "+id, err)
	return adminError(err)
}

func (b consoleBackend) enrollToken(v api.EnrollToken, names map[string]string) web.EnrollToken {
	t := web.EnrollToken{ID: v.ID, Prefix: v.Prefix, CreatedBy: cmpOr(names[v.CreatedBy], v.CreatedBy), State: v.State,
		MaxHosts: v.MaxHosts, Uses: v.Uses, Created: v.CreatedAt, Expires: v.ExpiresAt}
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		t.Labels = append(t.Labels, k+"="+v.Labels[k])
	}
	return t
}

func (b consoleBackend) EnrollTokens(ctx context.Context) ([]web.EnrollToken, error) {
	ts, err := b.s.store.ListEnrollTokens(ctx)
	if err != nil {
		return nil, err
	}
	names := b.usernames(ctx)
	out := make([]web.EnrollToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, b.enrollToken(b.s.enrollTokenView(t), names))
	}
	return out, nil
}

func (b consoleBackend) CreateEnrollToken(ctx context.Context, u web.User, req web.EnrollTokenRequest) (web.EnrollToken, string, error) {
	if err := requireRole(u, PermEnrollManage); err != nil {
		return web.EnrollToken{}, "", err
	}
	ctx = b.begin(ctx, u, "enroll-token.create", fmt.Sprintf("enrollment token max hosts %d", req.MaxHosts))
	v, err := b.s.createEnrollToken(ctx, b.principal(u), api.CreateEnrollTokenRequest{MaxHosts: req.MaxHosts,
		Expires: durationText(req.Expires), Labels: req.Labels})
	b.audited(ctx, u, "enroll-token.create", fmt.Sprintf("enrollment token %s max hosts %d", v.Prefix, req.MaxHosts), err)
	if err != nil {
		return web.EnrollToken{}, "", adminError(err)
	}
	return b.enrollToken(v, map[string]string{u.ID: u.Username}), v.Token, nil
}

func (b consoleBackend) RevokeEnrollToken(ctx context.Context, u web.User, id string) error {
	if err := requireRole(u, PermEnrollManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "enroll-token.revoke", "enrollment token "+id)
	auditSummary(ctx, "enrollment token %s revoked", id)
	err := b.s.store.RevokeEnrollToken(ctx, id, b.s.now())
	b.audited(ctx, u, "enroll-token.revoke", "enrollment token "+id, err)
	return adminError(err)
}

// maxRejectionsShown bounds the rejections listed per feed.
const maxRejectionsShown = 5

func (b consoleBackend) Feeds(ctx context.Context) ([]web.Feed, error) {
	fs, err := b.s.store.ListFeeds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.Feed, 0, len(fs))
	for _, f := range fs {
		v := feedView(f)
		wf := web.Feed{Name: v.Name, Kind: v.Kind, Origin: v.Origin, Records: v.Records, Rejected: v.Rejected, Error: v.Error}
		if v.LastSync.Unix() > 0 {
			wf.LastSync = v.LastSync
		}
		for i, r := range v.Rejections {
			if i == maxRejectionsShown {
				break
			}
			wf.Rejections = append(wf.Rejections, r.Record+": "+r.Reason)
		}
		out = append(out, wf)
	}
	return out, nil
}

// SyncFeeds runs the API's sync of every configured source, as u.
func (b consoleBackend) SyncFeeds(ctx context.Context, u web.User) ([]web.Feed, error) {
	if err := requireRole(u, PermFeedsManage); err != nil {
		return nil, err
	}
	var err error
	if len(b.s.cfg.FeedSources) == 0 {
		err = errBadRequest("no feed sources are configured; start the server with --feed-source NAME=URL, or import a feed file with `patchbay feeds import`")
	} else {
		for _, res := range b.s.syncFeeds(asPrincipal(ctx, u)) { // each feed's import is audited as u
			if res.Feed.Error != "" {
				b.s.log.Warn("console feed sync", "feed", res.Feed.Name, "err", res.Feed.Error)
			}
		}
	}
	b.audited(ctx, u, "feeds.sync", "every configured feed", err)
	if err != nil {
		return nil, adminError(err)
	}
	return b.Feeds(ctx)
}

// Integrations shows the webhook's scheme and host only: the rest of a
// webhook URL is often itself a credential.
func (b consoleBackend) Integrations(ctx context.Context) ([]web.Integration, error) {
	var out []web.Integration
	for _, c := range b.s.cfg.channelConfigs() {
		target := "(an unreadable URL)"
		if u, err := url.Parse(c.cfg.URL); err == nil && u.Host != "" {
			target = u.Scheme + "://" + u.Hostname()
			if p := u.Port(); p != "" {
				target += ":" + p
			}
		}
		note := "notifications as JSON (schema patchbay.notification/v1); X-Patchbay-Signature: t=UNIX,v1=HMAC-SHA256 of \"UNIX.body\"; delivery log at /notifications"
		switch c.kind {
		case delivery.KindSlack:
			note = "notifications as Slack Block Kit messages with links to the console; delivery log at /notifications"
		case delivery.KindEmail:
			note = "notifications by e-mail from " + c.cfg.From + " to users' addresses (patchbay users email); plain text and HTML, a change's schedule as an iCalendar attachment; delivery log at /notifications"
		}
		out = append(out, web.Integration{Kind: c.kind, Target: target, Signed: c.cfg.Secret != "", Note: note})
	}
	return out, nil
}

func (b consoleBackend) ReportScopes(ctx context.Context) ([]string, []string, error) {
	_, org := b.s.org.get()
	var teams, groups []string
	for _, t := range org.Teams {
		teams = append(teams, t.Name)
	}
	for _, g := range org.Groups {
		groups = append(groups, g.Name)
	}
	return teams, groups, nil
}

func reportFilter(q web.ReportQuery) metrics.Filter {
	return metrics.Filter{Team: q.Team, Group: q.Group, Severity: q.Severity, From: q.From, To: q.To}
}

func reportPoints(series []metrics.DailyPoint) []web.ReportPoint {
	out := make([]web.ReportPoint, 0, len(series))
	for _, p := range series {
		d, _ := time.Parse(time.DateOnly, p.Date)
		v := p.Values
		out = append(out, web.ReportPoint{Date: d, MTTPDays: v.MTTPPublishedMeanDays, MTTPFixDays: v.MTTPFixMeanDays,
			Coverage: v.Coverage, SLAOpen: v.SLAComplianceOpen, SLAClosed: v.SLAComplianceClosed,
			Overdue: v.Overdue, OpenFindings: v.OpenFindings})
	}
	return out
}

func owners(ocs []metrics.OwnerCount) []web.OwnerOverdue {
	out := make([]web.OwnerOverdue, 0, len(ocs))
	for _, o := range ocs {
		out = append(out, web.OwnerOverdue{Owner: o.Owner, Overdue: o.Overdue, Excepted: o.Excepted, Held: o.Held})
	}
	return out
}

// Report computes the KPI report exactly as GET /api/v1/report does.
func (b consoleBackend) Report(ctx context.Context, q web.ReportQuery) (web.Report, error) {
	if err := checkReportPeriod(reportFilter(q), b.s.now()); err != nil {
		return web.Report{}, orgError(err)
	}
	rep, err := b.s.reports.get(ctx, b.s, reportFilter(q))
	if err != nil {
		return web.Report{}, err
	}
	out := web.Report{From: rep.Filter.From, To: rep.Filter.To, Generated: rep.Generated,
		Owners: owners(rep.Values.OverdueByOwner), Series: reportPoints(rep.Series)}
	for _, h := range rep.Headline() {
		out.Headline = append(out.Headline, web.KPI{Label: h.Label, Text: h.Text})
	}
	for _, f := range rep.Values.Figures() {
		out.All = append(out.All, web.KPI{Label: f.Label, Text: f.Text})
	}
	return out, nil
}

// ReportFile renders the report as the API does (?format=json|csv|html).
func (b consoleBackend) ReportFile(ctx context.Context, q web.ReportQuery, format string) (web.ReportFile, error) {
	if format != "json" && format != "csv" && format != "html" {
		return web.ReportFile{}, &web.FormError{Message: "format must be json, csv or html"}
	}
	if err := checkReportPeriod(reportFilter(q), b.s.now()); err != nil {
		return web.ReportFile{}, orgError(err)
	}
	rep, err := b.s.reports.get(ctx, b.s, reportFilter(q))
	if err != nil {
		return web.ReportFile{}, err
	}
	out, err := renderReport(rep, format)
	if err != nil {
		return web.ReportFile{}, adminError(err)
	}
	name := fmt.Sprintf("patchbay-report-%s-to-%s.%s", rep.Filter.From.Format(time.DateOnly), rep.Filter.To.Format(time.DateOnly), out.ext)
	return web.ReportFile{ContentType: out.contentType, CSP: out.csp, Name: name, Body: out.body}, nil
}

// reportCache serves the console's reports. Their input (every host's
// report row, the hosts, jobs and changes: about 0.2 s of CPU to read at
// 10,000 hosts) is kept for dashboardMaxAge and, once older, still used
// for up to reportInputStaleLimit while one background read replaces it;
// each report is computed from it once (by period and scope) and kept
// until the input is replaced. A report is as of its input's time, which
// the page shows. The API reads afresh for every report.
type reportCache struct {
	refresh sync.Mutex // held while the input is read

	mu      sync.Mutex // guards the fields below
	at      time.Time  // when in was read
	in      metrics.Input
	reports map[metrics.Filter]metrics.Report // computed from in
}

// reportInputStaleLimit is how old an input may be and still serve while a
// new one is read; an older one makes the load wait.
const reportInputStaleLimit = time.Hour

// maxCachedReports bounds the reports kept; when full it starts over.
const maxCachedReports = 64

// get returns the report for f from the current input.
func (c *reportCache) get(ctx context.Context, s *Server, f metrics.Filter) (metrics.Report, error) {
	in, at, err := c.input(ctx, s)
	if err != nil {
		return metrics.Report{}, err
	}
	c.mu.Lock()
	rep, ok := c.reports[f]
	c.mu.Unlock()
	if ok && rep.Generated.Equal(at) {
		return rep, nil
	}
	rep = metrics.Compute(in, f, at)
	c.mu.Lock()
	if c.at.Equal(at) {
		if c.reports == nil || len(c.reports) >= maxCachedReports {
			c.reports = map[metrics.Filter]metrics.Report{}
		}
		c.reports[f] = rep
	}
	c.mu.Unlock()
	return rep, nil
}

// input returns the report input and when it was read.
func (c *reportCache) input(ctx context.Context, s *Server) (metrics.Input, time.Time, error) {
	now := s.now()
	c.mu.Lock()
	in, at := c.in, c.at
	c.mu.Unlock()
	if !at.IsZero() && !now.Before(at) {
		if now.Sub(at) < dashboardMaxAge {
			return in, at, nil
		}
		if now.Sub(at) < reportInputStaleLimit {
			if c.refresh.TryLock() {
				s.spawn(func(bctx context.Context) {
					defer c.refresh.Unlock()
					rctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
					defer cancel()
					if _, _, err := c.read(rctx, s); err != nil {
						s.log.Warn("report input refresh", "err", err)
					}
				})
			}
			return in, at, nil
		}
	}
	c.refresh.Lock()
	defer c.refresh.Unlock()
	c.mu.Lock()
	in, at = c.in, c.at
	c.mu.Unlock()
	if !at.IsZero() && !now.Before(at) && now.Sub(at) < dashboardMaxAge {
		return in, at, nil // another load read it while this one waited
	}
	return c.read(ctx, s)
}

// read reads the input afresh; the caller holds c.refresh.
func (c *reportCache) read(ctx context.Context, s *Server) (metrics.Input, time.Time, error) {
	at := s.now()
	in, err := s.reportInput(ctx)
	if err != nil {
		return in, at, err
	}
	c.mu.Lock()
	c.in, c.at, c.reports = in, at, nil
	c.mu.Unlock()
	return in, at, nil
}

// dashboardMaxAge is how old the dashboard's figures may be. The KPIs read
// every host's report row and the open-finding counts scan the open
// findings (together about 2 s at 10,000 hosts with 200,000 findings,
// BenchmarkConsoleDashboard), so the dashboard shares one computation per
// interval instead of paying it on every page load.
const dashboardMaxAge = time.Minute

// dashboardKeepWarm is how long after the dashboard was last opened
// dashboardLoop keeps refreshing its figures ahead of time, so that only
// the first load after a quiet spell waits for them.
const dashboardKeepWarm = 10 * time.Minute

// dashboardCache holds the dashboard's last computation.
type dashboardCache struct {
	// refresh is held while computing, so concurrent loads wait for one
	// computation instead of each starting their own.
	refresh sync.Mutex

	mu         sync.Mutex // guards the fields below
	at, viewed time.Time
	rep        metrics.Report
	counts     store.FindingCounts
}

// fresh reports whether the figures are younger than dashboardMaxAge; c.mu
// is held.
func (c *dashboardCache) fresh(now time.Time) bool {
	return !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < dashboardMaxAge
}

// dashboardFigures returns the KPIs and open-finding counts, computed at
// most dashboardMaxAge ago.
func (s *Server) dashboardFigures(ctx context.Context) (metrics.Report, store.FindingCounts, error) {
	c := &s.kpis
	now := s.now()
	c.mu.Lock()
	c.viewed = now
	if c.fresh(now) {
		defer c.mu.Unlock()
		return c.rep, c.counts, nil
	}
	if !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < dashboardStaleLimit {
		// Stale but not old: show these figures (the page says when they
		// were computed) and compute new ones in the background, so no
		// load waits for the computation (about 2 s at 10,000 hosts).
		rep, counts := c.rep, c.counts
		c.mu.Unlock()
		s.refreshDashboardInBackground()
		return rep, counts, nil
	}
	c.mu.Unlock()
	return s.refreshDashboard(ctx, false)
}

// dashboardStaleLimit is how old figures may be and still be shown while
// new ones are computed; older ones make the load wait.
const dashboardStaleLimit = 24 * time.Hour

// refreshDashboardInBackground starts a refresh unless one is running.
func (s *Server) refreshDashboardInBackground() {
	if !s.kpis.refresh.TryLock() {
		return // one is running; the next load gets its figures
	}
	s.kpis.refresh.Unlock() // refreshDashboard takes it again and skips if another got there first
	s.spawn(func(bctx context.Context) {
		ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
		defer cancel()
		if _, _, err := s.refreshDashboard(ctx, false); err != nil {
			s.log.Warn("dashboard refresh", "err", err)
		}
	})
}

// refreshDashboard computes the dashboard's figures, unless (without force)
// another caller did while this one waited.
func (s *Server) refreshDashboard(ctx context.Context, force bool) (metrics.Report, store.FindingCounts, error) {
	c := &s.kpis
	c.refresh.Lock()
	defer c.refresh.Unlock()
	now := s.now()
	c.mu.Lock()
	if !force && c.fresh(now) {
		defer c.mu.Unlock()
		return c.rep, c.counts, nil
	}
	c.mu.Unlock()
	counts, err := s.store.CountOpenFindings(ctx, now)
	if err != nil {
		return metrics.Report{}, store.FindingCounts{}, err
	}
	rep, err := s.report(ctx, metrics.Filter{})
	if err != nil {
		return metrics.Report{}, store.FindingCounts{}, err
	}
	c.mu.Lock()
	c.at, c.rep, c.counts = now, rep, counts
	c.mu.Unlock()
	return rep, counts, nil
}

// dashboardLoop refreshes the dashboard's figures before they expire while
// someone has opened the dashboard in the last dashboardKeepWarm, and
// stops with ctx.
func (s *Server) dashboardLoop(ctx context.Context) {
	ticker(ctx, dashboardMaxAge*3/4, func() {
		c := &s.kpis
		c.mu.Lock()
		warm := !c.viewed.IsZero() && s.now().Sub(c.viewed) < dashboardKeepWarm
		c.mu.Unlock()
		if !warm {
			return
		}
		if _, _, err := s.refreshDashboard(ctx, true); err != nil && ctx.Err() == nil {
			s.log.Warn("dashboard refresh", "err", err)
		}
	})
}

// maxDashboardChanges bounds the open changes the dashboard lists.
const maxDashboardChanges = 10

// Dashboard combines the store's grouped count of open findings and the
// KPIs (both shared for up to dashboardMaxAge, and refreshed ahead of time
// while the dashboard is in use), each group's next window (no host is
// read) and the open changes.
func (b consoleBackend) Dashboard(ctx context.Context) (web.DashboardStatus, error) {
	s := b.s
	now := s.now()
	var d web.DashboardStatus
	rep, fc, err := s.dashboardFigures(ctx)
	if err != nil {
		return d, err
	}
	d.BySeverity = fc.BySeverity
	for _, n := range fc.BySeverity {
		d.OpenFindings += n
	}
	d.Overdue, d.Excepted, d.KEV = fc.Overdue, fc.Excepted, fc.KEV
	v := rep.Values
	d.AsOf = rep.Generated
	d.Hosts, d.HostsMissing, d.Coverage = v.Hosts, v.HostsMissing, v.Coverage
	d.SLAOpen, d.SLAClosed = v.SLAComplianceOpen, v.SLAComplianceClosed
	d.UnpatchedCritical, d.RiskExposure30d = v.UnpatchedCritical, v.RiskExposure30d
	d.OverdueByOwner = owners(v.OverdueByOwner)
	d.Trend = reportPoints(rep.Series)

	_, org := s.org.get()
	for _, g := range org.Groups {
		if len(g.Windows) == 0 {
			continue
		}
		var ws []schedule.Window
		for _, spec := range g.Windows {
			ws = append(ws, toWindow(spec))
		}
		occ, err := schedule.Next(ws, freezesFor(org, g.Team), now, 1)
		if err != nil || len(occ) == 0 {
			continue // a window that never recurs, or a bad rule the org apply would have refused
		}
		d.Windows = append(d.Windows, web.UpcomingWindow{Group: g.Name, Window: occ[0].Window, Start: occ[0].Start, End: occ[0].End})
	}
	slices.SortStableFunc(d.Windows, func(a, b web.UpcomingWindow) int { return a.Start.Compare(b.Start) })

	cs, err := s.store.ListChanges(ctx, ChangeDraft, ChangePendingApproval, ChangeApproved, ChangeScheduled, ChangeRunning, ChangeHalted,
		string(change.RollingBack), ChangeAwaitingSignOff)
	if err != nil {
		return d, err
	}
	slices.SortStableFunc(cs, func(a, b store.Change) int { return b.CreatedAt.Compare(a.CreatedAt) })
	for _, c := range cs[:min(len(cs), maxDashboardChanges)] {
		d.Changes = append(d.Changes, web.Change{ID: c.ID, Title: c.Title, State: c.State, Author: c.Author,
			ApprovedBy: c.ApprovedBy, Created: c.CreatedAt})
	}
	return d, nil
}

// userName is the name of the user id, or id when there is none.
func (b consoleBackend) userName(ctx context.Context, id string) string {
	if t, err := b.s.store.GetUser(ctx, id); err == nil {
		return t.Username
	}
	return id
}
