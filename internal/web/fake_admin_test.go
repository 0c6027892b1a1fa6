package web

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
)

// fakeAdmin is the fake backend's users, tokens, feeds and KPI state. Its
// fields are guarded by fakeBackend.mu.
type fakeAdmin struct {
	passwords map[string]string // by username; fakePassword when absent
	disabled  map[string]User   // disabled users, by username; no longer in fakeBackend.users
	created   map[string]UserInfo
	apiTokens []APIToken
	enroll    []EnrollToken
	secrets   []string // every secret handed out, to check none is listed again
	syncs     int
	reports   []ReportQuery // what Report and ReportFile were asked
}

func (a *fakeAdmin) password(username string) string {
	if p, ok := a.passwords[username]; ok {
		return p
	}
	return fakePassword
}

func (f *fakeBackend) adminInit() {
	if f.admin.passwords == nil {
		f.admin.passwords = map[string]string{}
		f.admin.disabled = map[string]User{}
		f.admin.created = map[string]UserInfo{}
	}
}

func (f *fakeBackend) secret(prefix string) string {
	s := prefix + randomToken()[:20]
	f.admin.secrets = append(f.admin.secrets, s)
	return s
}

func (f *fakeBackend) record(u User, action, target string) {
	f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: action, Target: target})
}

func (f *fakeBackend) mustManage(u User, perm string) error {
	if !f.Allowed(u, perm) {
		return ErrForbidden
	}
	return nil
}

func (f *fakeBackend) Roles() []string { return policy.Roles() }

func (f *fakeBackend) Users(ctx context.Context) ([]UserInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adminInit()
	var out []UserInfo
	for _, u := range f.users {
		out = append(out, UserInfo{ID: u.ID, Username: u.Username, Role: u.Role, Created: f.admin.created[u.Username].Created})
	}
	for _, u := range f.admin.disabled {
		out = append(out, UserInfo{ID: u.ID, Username: u.Username, Role: u.Role, Disabled: true})
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

func (f *fakeBackend) CreateUser(ctx context.Context, u User, username, role, password string) (UserInfo, string, error) {
	if err := f.mustManage(u, "users:manage"); err != nil {
		return UserInfo{}, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adminInit()
	if _, ok := f.users[username]; ok {
		return UserInfo{}, "", fmt.Errorf("the username %s is taken: %w", username, ErrConflict)
	}
	if !slices.Contains(f.Roles(), role) {
		return UserInfo{}, "", &FormError{Message: "choose a role from the list"}
	}
	if password == "" {
		password = f.secret("pw-")
	}
	nu := User{ID: "u" + strconv.Itoa(len(f.users)+1), Username: username, Role: role}
	f.users[username] = nu
	f.admin.passwords[username] = password
	info := UserInfo{ID: nu.ID, Username: username, Role: role, Created: f.now()}
	f.admin.created[username] = info
	f.record(u, "user.create", username)
	return info, password, nil
}

func (f *fakeBackend) userByIDLocked(id string) (User, bool) {
	for _, u := range f.users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

func (f *fakeBackend) SetUserRole(ctx context.Context, u User, id, role string) error {
	if err := f.mustManage(u, "users:manage"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.userByIDLocked(id)
	switch {
	case !ok:
		return ErrNotFound
	case !slices.Contains(f.Roles(), role):
		return &FormError{Message: "choose a role from the list"}
	case t.ID == u.ID && u.Role == "admin" && role != "admin":
		return fmt.Errorf("you cannot remove your own admin role; ask another admin: %w", ErrConflict)
	}
	t.Role = role
	f.users[t.Username] = t
	f.record(u, "user.role", t.Username+" "+role)
	return nil
}

func (f *fakeBackend) DisableUser(ctx context.Context, u User, id string) error {
	if err := f.mustManage(u, "users:manage"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adminInit()
	t, ok := f.userByIDLocked(id)
	switch {
	case !ok:
		return ErrNotFound
	case t.ID == u.ID:
		return fmt.Errorf("you cannot disable yourself; ask another admin to do it: %w", ErrConflict)
	}
	// Out of users, neither Authenticate nor UserByID finds it, as the
	// server's refuse disabled users.
	f.admin.disabled[t.Username] = t
	delete(f.users, t.Username)
	f.record(u, "user.disable", t.Username)
	return nil
}

func (f *fakeBackend) ChangePassword(ctx context.Context, u User, current, next string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adminInit()
	t, ok := f.users[u.Username]
	if !ok || t.ID != u.ID {
		return ErrNotFound
	}
	if current != f.admin.password(u.Username) {
		return ErrBadLogin
	}
	if len(next) < 12 {
		return &FormError{Message: "the new password must have at least 12 characters"}
	}
	f.admin.passwords[u.Username] = next
	t.Epoch = randomToken()[:8]
	f.users[u.Username] = t
	f.record(u, "user.password", u.Username)
	return nil
}

func (f *fakeBackend) APITokens(ctx context.Context) ([]APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.admin.apiTokens), nil
}

func (f *fakeBackend) CreateAPIToken(ctx context.Context, u User, req APITokenRequest) (APIToken, string, error) {
	if err := f.mustManage(u, "tokens:manage"); err != nil {
		return APIToken{}, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Name == "" {
		return APIToken{}, "", &FormError{Message: "name the token"}
	}
	secret := f.secret("PBT1.")
	t := APIToken{ID: "t" + strconv.Itoa(len(f.admin.apiTokens)+1), Name: req.Name, Prefix: secret[:9], Role: req.Role,
		Owner: u.Username, State: "active", Created: f.now()}
	if req.Expires > 0 {
		t.Expires = f.now().Add(req.Expires)
	}
	f.admin.apiTokens = append(f.admin.apiTokens, t)
	f.record(u, "token.create", t.ID)
	return t, secret, nil
}

func (f *fakeBackend) RevokeAPIToken(ctx context.Context, u User, id string) error {
	return revokeToken(f, u, "tokens:manage", "token.revoke", id, &f.admin.apiTokens, func(t *APIToken) (string, *string) { return t.ID, &t.State })
}

// revokeToken marks the token id in *tokens revoked, as u, who needs perm,
// and records action; tokens is read under f.mu.
func revokeToken[T any](f *fakeBackend, u User, perm, action, id string, tokens *[]T, idState func(*T) (string, *string)) error {
	if err := f.mustManage(u, perm); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range *tokens {
		if tid, state := idState(&(*tokens)[i]); tid == id {
			*state = "revoked"
			f.record(u, action, id)
			return nil
		}
	}
	return ErrNotFound
}

func (f *fakeBackend) EnrollTokens(ctx context.Context) ([]EnrollToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.admin.enroll), nil
}

func (f *fakeBackend) CreateEnrollToken(ctx context.Context, u User, req EnrollTokenRequest) (EnrollToken, string, error) {
	if err := f.mustManage(u, "enroll:manage"); err != nil {
		return EnrollToken{}, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	secret := f.secret("PBE1.")
	t := EnrollToken{ID: "e" + strconv.Itoa(len(f.admin.enroll)+1), Prefix: secret[:11], CreatedBy: u.Username, State: "active",
		MaxHosts: req.MaxHosts, Created: f.now(), Expires: f.now().Add(req.Expires)}
	for _, k := range slices.Sorted(maps.Keys(req.Labels)) {
		t.Labels = append(t.Labels, k+"="+req.Labels[k])
	}
	f.admin.enroll = append(f.admin.enroll, t)
	f.record(u, "enroll-token.create", t.ID)
	return t, secret, nil
}

func (f *fakeBackend) RevokeEnrollToken(ctx context.Context, u User, id string) error {
	return revokeToken(f, u, "enroll:manage", "enroll-token.revoke", id, &f.admin.enroll, func(t *EnrollToken) (string, *string) { return t.ID, &t.State })
}

func (f *fakeBackend) Feeds(ctx context.Context) ([]Feed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.now().Add(-3 * time.Hour)
	if f.admin.syncs > 0 {
		last = f.now()
	}
	return []Feed{
		{Name: "osv-debian", Kind: "osv", Origin: "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
			LastSync: last, Records: 41230, Rejected: 2, Rejections: []string{"DEBIAN-CVE-0000-0001: " + xssHostname}},
		{Name: "cisa-kev", Kind: "kev", Origin: "https://www.cisa.gov/feeds/kev.json", LastSync: last, Records: 1400},
		{Name: "first-epss", Kind: "epss", Origin: "https://epss.example/epss.csv.gz", Error: "GET https://epss.example/epss.csv.gz: 503 Service Unavailable"},
	}, nil
}

func (f *fakeBackend) SyncFeeds(ctx context.Context, u User) ([]Feed, error) {
	if err := f.mustManage(u, "feeds:manage"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.admin.syncs++
	f.record(u, "feeds.sync", "all")
	f.mu.Unlock()
	return f.Feeds(ctx)
}

func (f *fakeBackend) Integrations(ctx context.Context) ([]Integration, error) {
	return []Integration{{Kind: "webhook", Target: "https://hooks.example.net", Signed: true,
		Note: "every notification as JSON, HMAC-SHA256 in X-Patchbay-Signature"}}, nil
}

func (f *fakeBackend) ReportScopes(ctx context.Context) ([]string, []string, error) {
	return []string{"platform", "data"}, []string{"web", "databases", hostileGroup}, nil
}

// fakeSeries is 30 days of KPIs with a gap, so charts must cope with one.
func (f *fakeBackend) fakeSeries(to time.Time, n int) []ReportPoint {
	var out []ReportPoint
	day := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	for i := n - 1; i >= 0; i-- {
		p := ReportPoint{Date: day.AddDate(0, 0, -i), Overdue: 3 + i%4, OpenFindings: 40 - i/2}
		if i%7 != 3 {
			m := 12 - float64(n-i)/4
			fx := m / 2
			p.MTTPDays, p.MTTPFixDays = &m, &fx
		}
		cov := 0.6 + 0.01*float64(n-i)
		so, sc := 0.9-0.005*float64(i), 0.8
		p.Coverage, p.SLAOpen, p.SLAClosed = &cov, &so, &sc
		out = append(out, p)
	}
	return out
}

func (f *fakeBackend) Report(ctx context.Context, q ReportQuery) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admin.reports = append(f.admin.reports, q)
	to := q.To
	if to.IsZero() {
		to = f.now()
	}
	from := q.From
	if from.IsZero() {
		from = to.AddDate(0, 0, -29)
	}
	n := int(to.Sub(from).Hours()/24) + 1
	return Report{From: from, To: to, Generated: f.now(),
		Headline: []KPI{{"Patch coverage", "87.5% of 3 hosts"}, {"SLA compliance, open now", "90.0%"}, {"Owner", csvFormula}},
		All:      []KPI{{"coverage", "87.5%"}, {"overdue", "3"}},
		Owners:   []OwnerOverdue{{Owner: "web team", Overdue: 2}, {Owner: csvFormula, Overdue: 1, Held: 1}},
		Series:   f.fakeSeries(to, n)}, nil
}

func (f *fakeBackend) ReportFile(ctx context.Context, q ReportQuery, format string) (ReportFile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admin.reports = append(f.admin.reports, q)
	switch format {
	case "json":
		return ReportFile{ContentType: "application/json", Name: "report.json", Body: []byte(`{"values":{}}`)}, nil
	case "csv":
		// What metrics.Report.CSV writes for an owner named like a formula.
		return ReportFile{ContentType: "text/csv; charset=utf-8", Name: "report.csv",
			Body: []byte("date,metric,owner,value\ncurrent,overdue_by_owner,'" + csvFormula + ",1\n")}, nil
	case "html":
		return ReportFile{ContentType: "text/html; charset=utf-8", CSP: "default-src 'none'; style-src 'sha256-x'", Name: "report.html",
			Body: []byte("<!DOCTYPE html><title>report</title><h1>Patchbay KPI report</h1>")}, nil
	}
	return ReportFile{}, &FormError{Message: "format must be json, csv or html"}
}

func (f *fakeBackend) Dashboard(ctx context.Context) (DashboardStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cov, so, sc := 2.0/3, 0.5, 0.75
	now := f.now()
	d := DashboardStatus{AsOf: now, OpenFindings: 3, Overdue: 1, Excepted: 0, KEV: 1, Hosts: 3, HostsMissing: 1,
		Coverage: &cov, SLAOpen: &so, SLAClosed: &sc, UnpatchedCritical: 1, RiskExposure30d: 1234.5,
		OverdueByOwner: []OwnerOverdue{{Owner: "data team", Overdue: 1}, {Owner: xssHostname, Overdue: 1, Excepted: 1}},
		Trend:          f.fakeSeries(now, 30),
		Windows: []UpcomingWindow{{Group: "web", Window: "tuesday-night", Start: now.Add(20 * time.Hour), End: now.Add(24 * time.Hour)},
			{Group: hostileGroup, Window: "monthly", Start: now.Add(72 * time.Hour), End: now.Add(76 * time.Hour)}},
	}
	d.BySeverity, d.KEV = map[string]int{}, 0
	for _, fd := range f.findings {
		d.BySeverity[fd.Severity]++
		if fd.KEV {
			d.KEV++
		}
	}
	for _, c := range f.changes {
		if c.State != "done" && c.State != "rolled_back" && c.State != "rejected" {
			c.Hosts = nil
			d.Changes = append(d.Changes, c)
		}
	}
	return d, nil
}
