package web

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hostile strings from the organisation file and users; they must render as text.
const (
	hostileFreeze = `<img src=x onerror=alert(7)>`
	hostileKB     = `<script>alert(8)</script>`
)

// fakeOrg is the fake's organisation: groups with windows, freezes,
// calendar subscriptions, exceptions and knowledge-base entries. It is
// filled on first use, under fakeBackend.mu.
type fakeOrg struct {
	ready      bool
	groups     []OrgGroup
	members    map[string][]TeamMember // by team
	rules      map[string]fakeWindow   // by group
	freezes    []fakeFreeze
	feeds      []CalendarFeed
	secrets    map[string]string // feed ID → secret, to check it is never shown again
	exceptions []Exception
	kb         []KBEntry
}

// fakeWindow opens on the given weekdays at hour:00 UTC for length.
type fakeWindow struct {
	name   string
	days   []time.Weekday
	hour   int
	length time.Duration
}

type fakeFreeze struct {
	name, team, reason string // team "" is global
	start, end         time.Time
}

// orgState returns the fake organisation, filling it on first use. f.mu must be held.
func (f *fakeBackend) orgState() *fakeOrg {
	o := &f.org
	if o.ready {
		return o
	}
	now := f.now()
	o.ready = true
	o.groups = []OrgGroup{
		{Name: "web", Team: "web team", Stakeholder: "stakeholder", Sysadmin: "operator", Criticality: 4, Exposure: "internet", Ring: "pilot",
			WhoToCall: []EscalationStep{{After: "0d", People: []string{"operator (sysadmin)"}}, {After: "3d", People: []string{"approver (approver)"}},
				{After: "7d", People: []string{xssHostname + " (stakeholder)", "the change's author"}}}},
		{Name: "databases", Team: "data team", Stakeholder: "stakeholder", Sysadmin: "operator", Criticality: 5, Exposure: "internal", Ring: "production"},
		{Name: hostileGroup, Team: "web team", Stakeholder: xssHostname, Sysadmin: csvFormula, Criticality: 1, Ring: "test"},
	}
	o.members = map[string][]TeamMember{
		"web team":  {{"operator", "operator"}, {"approver", "approver"}, {"stakeholder", "stakeholder"}},
		"data team": {{"operator", "operator"}, {"approver", "approver"}, {"stakeholder", "stakeholder"}, {csvFormula, "auditor"}},
	}
	o.rules = map[string]fakeWindow{
		"web":        {"tuesday-night", []time.Weekday{time.Tuesday}, 22, 4 * time.Hour},
		"databases":  {"weekday-mornings", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, 6, 90 * time.Minute},
		hostileGroup: {hostileFreeze, []time.Weekday{time.Sunday}, 2, 3 * time.Hour},
	}
	o.freezes = []fakeFreeze{
		{name: "year-end", reason: "change freeze", start: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), end: time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC)},
		{name: hostileFreeze, team: "data team", reason: xssHostname, start: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), end: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
	}
	o.secrets = map[string]string{}
	o.feeds = []CalendarFeed{{ID: "cal1", Scope: "team", Name: "web team", CreatedBy: "operator", CreatedAt: now.Add(-48 * time.Hour)}}
	o.secrets["cal1"] = "pbc_alreadyissuedsecret"
	approved := now.Add(-24 * time.Hour)
	o.exceptions = []Exception{
		{ID: "e1", Team: "data team", Advisory: "CVE-2024-3094", Group: "databases", Justification: "The sshd of these hosts is not reachable; vendor fix next quarter.",
			RequestedBy: "operator", RequestedAt: now.Add(-2 * time.Hour), ExpiresAt: now.AddDate(0, 0, 30), State: "pending"},
		{ID: "e2", Team: "web team", Advisory: "CVE-2023-4911", Host: "h1", Hostname: "web-01.example.net", Justification: "WAF rule blocks the vector.",
			RequestedBy: "operator", RequestedAt: now.AddDate(0, 0, -20), ApprovedBy: "approver", ApprovedAt: approved, ExpiresAt: now.AddDate(0, 0, 5), State: "active"},
		{ID: "e3", Team: "web team", Package: "musl", Group: hostileGroup, Justification: xssHostname + " " + csvFormula,
			RequestedBy: "operator", RequestedAt: now.AddDate(0, 0, -90), ApprovedBy: "approver", ApprovedAt: now.AddDate(0, 0, -89), ExpiresAt: now.AddDate(0, 0, -1), State: "expired"},
		{ID: "e4", Team: "web team", Advisory: "CVE-2025-0001", Group: "web", Justification: "Superseded.",
			RequestedBy: "approver", RequestedAt: now.AddDate(0, 0, -10), ExpiresAt: now.AddDate(0, 0, 60), RevokedAt: now.AddDate(0, 0, -3), State: "revoked"},
		{ID: "e5", Team: "web team", Package: "openssl", Group: "web", Justification: "Certified build pending.",
			RequestedBy: "approver", RequestedAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(0, 0, 20), State: "pending"},
	}
	o.kb = []KBEntry{
		{ID: "k1", Title: "nginx does not start after 1.22.1-9", Problem: "The unit fails: the new default config enables a module that is not installed.",
			Symptoms: "systemctl status nginx: failed\njournal: unknown directive \"brotli\"", Fix: "Remove the brotli lines from /etc/nginx/conf.d/default.conf, then restart.",
			Packages: []KBPackage{{"nginx", []string{"1.22.1-9"}}}, Distro: "debian 12", Changes: []string{"c1"}, Hosts: []string{"h1"},
			Status: "published", CreatedBy: "operator", CreatedAt: now.AddDate(0, 0, -30), UpdatedAt: now.AddDate(0, 0, -29)},
		{ID: "k2", Title: "After change: Patch xz on databases", Problem: hostileKB + " nightly reports fail since the update", Symptoms: csvFormula,
			Packages: []KBPackage{{"xz-utils", []string{"5.4.1-1"}}}, Changes: []string{"c1"}, Hosts: []string{"h2"},
			Status: "draft", CreatedBy: "stakeholder", CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-3 * time.Hour)},
	}
	return o
}

func (f *fakeBackend) fakeGroupHosts(name string) []GroupHost {
	var out []GroupHost
	for _, g := range f.groups {
		if g.name != name {
			continue
		}
		for _, id := range g.hosts {
			for _, h := range f.hosts {
				if h.ID == id {
					out = append(out, GroupHost{ID: h.ID, Hostname: h.Hostname})
				}
			}
		}
	}
	return out
}

// occurrences lists a window's openings that overlap [from, to).
func (w fakeWindow) occurrences(from, to time.Time) []WindowPeriod {
	var out []WindowPeriod
	for d := from.Truncate(24*time.Hour).AddDate(0, 0, -1); d.Before(to); d = d.AddDate(0, 0, 1) {
		if !slices.Contains(w.days, d.Weekday()) {
			continue
		}
		start := d.Add(time.Duration(w.hour) * time.Hour)
		if end := start.Add(w.length); end.After(from) && start.Before(to) {
			out = append(out, WindowPeriod{Window: w.name, Start: start, End: end})
		}
	}
	return out
}

func (o *fakeOrg) freezesFor(team string) []fakeFreeze {
	var out []fakeFreeze
	for _, fr := range o.freezes {
		if fr.team == "" || fr.team == team {
			out = append(out, fr)
		}
	}
	return out
}

// frozen says whether a freeze of team covers p.
func (o *fakeOrg) frozen(team string, p WindowPeriod) bool {
	for _, fr := range o.freezesFor(team) {
		if !p.Start.Before(fr.start) && !p.End.After(fr.end) {
			return true
		}
	}
	return false
}

// group fills a group's counts, windows and freezes; n coming windows.
func (f *fakeBackend) orgGroup(o *fakeOrg, g OrgGroup, n int, detail bool) OrgGroup {
	now := f.now()
	hosts := f.fakeGroupHosts(g.Name)
	g.HostCount = len(hosts)
	w := o.rules[g.Name]
	g.Windows = []WindowRule{{Name: w.name, RRule: "FREQ=WEEKLY", Start: fmt.Sprintf("%02d:00", w.hour), TZ: "UTC", Duration: w.length}}
	for _, p := range w.occurrences(now, now.AddDate(0, 3, 0)) {
		if len(g.NextWindows) == n {
			break
		}
		if !o.frozen(g.Team, p) {
			g.NextWindows = append(g.NextWindows, p)
		}
	}
	if !detail {
		g.WhoToCall = nil // only the group page shows it
	}
	if detail {
		g.Hosts = hosts
		g.Members = slices.Clone(o.members[g.Team])
		for _, fr := range o.freezesFor(g.Team) {
			if fr.end.After(now) {
				g.Freezes = append(g.Freezes, WindowPeriod{Window: fr.name, Start: fr.start, End: fr.end, Reason: fr.reason})
			}
		}
	}
	return g
}

func (f *fakeBackend) OrgGroups(ctx context.Context) ([]OrgGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	var out []OrgGroup
	for _, g := range o.groups {
		out = append(out, f.orgGroup(o, g, 1, false))
	}
	return out, nil
}

func (f *fakeBackend) OrgGroup(ctx context.Context, name string, n int) (OrgGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	for _, g := range o.groups {
		if g.Name == name {
			return f.orgGroup(o, g, n, true), nil
		}
	}
	return OrgGroup{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
}

func (f *fakeBackend) CalendarEvents(ctx context.Context, from, to time.Time) ([]CalendarEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	var out []CalendarEvent
	for _, g := range o.groups {
		w := o.rules[g.Name]
		for _, p := range w.occurrences(from, to) {
			out = append(out, CalendarEvent{Kind: EventWindow, Title: w.name, Group: g.Name, Start: p.Start, End: p.End,
				Frozen: o.frozen(g.Team, p), Detail: "Maintenance window of group " + g.Name})
		}
	}
	for _, fr := range o.freezes {
		if fr.end.After(from) && fr.start.Before(to) {
			out = append(out, CalendarEvent{Kind: EventFreeze, Title: fr.name, Detail: fr.reason, Start: fr.start, End: fr.end})
		}
	}
	for _, c := range f.changes {
		switch c.State {
		case "approved", "running", "halted":
			start := f.now()
			out = append(out, CalendarEvent{Kind: EventChange, Title: c.Title, ChangeID: c.ID, State: c.State, Start: start, End: start.Add(time.Hour)})
		}
	}
	return out, nil
}

func (f *fakeBackend) CalendarTargets(ctx context.Context) ([]string, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	var teams, groups []string
	for _, g := range o.groups {
		groups = append(groups, g.Name)
		if !slices.Contains(teams, g.Team) {
			teams = append(teams, g.Team)
		}
	}
	return teams, groups, nil
}

func (f *fakeBackend) CalendarFeeds(ctx context.Context) ([]CalendarFeed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.orgState().feeds), nil
}

func (f *fakeBackend) CreateCalendarFeed(ctx context.Context, u User, scope, name string) (CalendarFeed, string, error) {
	if !f.Allowed(u, "calendars:manage") {
		return CalendarFeed{}, "", ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	feed := CalendarFeed{ID: "cal" + strconv.Itoa(len(o.feeds)+1), Scope: scope, Name: name, CreatedBy: u.Username, CreatedAt: f.now()}
	secret := "pbc_secret" + strconv.Itoa(len(o.feeds)+1) + "x7Kq"
	o.feeds = append([]CalendarFeed{feed}, o.feeds...)
	o.secrets[feed.ID] = secret
	f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "calendar.create", Target: scope + " " + name})
	return feed, "/calendar/" + secret + ".ics", nil
}

func (f *fakeBackend) RevokeCalendarFeed(ctx context.Context, u User, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	for i := range o.feeds {
		if o.feeds[i].ID == id {
			if o.feeds[i].RevokedAt.IsZero() {
				o.feeds[i].RevokedAt = f.now()
			}
			f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "calendar.revoke", Target: id})
			return nil
		}
	}
	return fmt.Errorf("calendar %q: %w", id, ErrNotFound)
}

func (f *fakeBackend) Exceptions(ctx context.Context, u User) ([]Exception, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Exception
	for _, e := range f.orgState().exceptions {
		e.CanApprove = e.State == "pending" && e.RequestedBy != u.Username && f.Allowed(u, "exceptions:approve")
		e.CanRevoke = (e.State == "pending" || e.State == "active") && f.Allowed(u, "exceptions:request")
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeBackend) ExceptionTeams(ctx context.Context) ([]string, error) {
	teams, _, err := f.CalendarTargets(ctx)
	return teams, err
}

func (f *fakeBackend) RequestException(ctx context.Context, u User, req ExceptionRequest) (string, error) {
	if !f.Allowed(u, "exceptions:request") {
		return "", ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	if req.Team == "" {
		for _, g := range o.groups {
			if g.Name == req.Group {
				req.Team = g.Team
			}
		}
	}
	host := ""
	if req.Host != "" {
		for _, h := range f.hosts {
			if h.ID == req.Host || h.Hostname == req.Host {
				host = h.ID
			}
		}
		if host == "" {
			return "", &FormError{Message: fmt.Sprintf("host: %q is not a host", req.Host)}
		}
	}
	switch {
	case req.Advisory == "" && req.Package == "", req.Justification == "", req.Expires.IsZero(), req.Group == "" && host == "":
		return "", fmt.Errorf("incomplete exception request %+v", req)
	case !req.Expires.After(f.now()):
		return "", &FormError{Message: "expires: the expiry must be in the future"}
	}
	e := Exception{ID: "e" + strconv.Itoa(len(o.exceptions)+1), Team: req.Team, Advisory: req.Advisory, Package: req.Package, Host: host,
		Group: req.Group, Justification: req.Justification, RequestedBy: u.Username, RequestedAt: f.now(), ExpiresAt: req.Expires, State: "pending"}
	o.exceptions = append([]Exception{e}, o.exceptions...)
	f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "exception.request", Target: e.ID})
	return e.ID, nil
}

func (f *fakeBackend) ExceptionAction(ctx context.Context, u User, id, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	for i := range o.exceptions {
		e := &o.exceptions[i]
		if e.ID != id {
			continue
		}
		switch action {
		case "approve":
			switch {
			case e.State != "pending":
				return &Refusal{Kind: ErrConflict, Reason: fmt.Sprintf("exception %s is %s, not pending", id, e.State)}
			case e.RequestedBy == u.Username:
				return &Refusal{Kind: ErrForbidden, Reason: fmt.Sprintf("requested by %s; another approver must approve", u.Username)}
			}
			e.State, e.ApprovedBy, e.ApprovedAt = "active", u.Username, f.now()
		case "revoke":
			e.State, e.RevokedAt = "revoked", f.now()
		default:
			return ErrNotFound
		}
		f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "exception." + action, Target: id})
		return nil
	}
	return fmt.Errorf("exception %q: %w", id, ErrNotFound)
}

func (f *fakeBackend) KBEntries(ctx context.Context) ([]KBEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.orgState().kb), nil
}

func (f *fakeBackend) KBEntry(ctx context.Context, id string) (KBEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.orgState().kb {
		if e.ID == id {
			return e, nil
		}
	}
	return KBEntry{}, fmt.Errorf("knowledge-base entry %q: %w", id, ErrNotFound)
}

func (f *fakeBackend) SaveKBEntry(ctx context.Context, u User, e KBEntry) (string, error) {
	if !f.Allowed(u, "kb:write") {
		return "", ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgState()
	if strings.TrimSpace(e.Title) == "" || strings.TrimSpace(e.Problem) == "" || len(e.Packages) == 0 {
		return "", &FormError{Message: "title, problem and at least one package are required"}
	}
	now := f.now()
	e.UpdatedAt = now
	f.audit = append(f.audit, AuditEntry{Time: now, Actor: u.Username, Action: "kb.save", Target: e.ID})
	if e.ID == "" {
		e.ID, e.CreatedBy, e.CreatedAt = "k"+strconv.Itoa(len(o.kb)+1), u.Username, now
		o.kb = append([]KBEntry{e}, o.kb...)
		return e.ID, nil
	}
	for i := range o.kb {
		if o.kb[i].ID == e.ID {
			e.CreatedBy, e.CreatedAt = o.kb[i].CreatedBy, o.kb[i].CreatedAt
			o.kb[i] = e
			return e.ID, nil
		}
	}
	return "", fmt.Errorf("knowledge-base entry %q: %w", e.ID, ErrNotFound)
}
