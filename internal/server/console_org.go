package server

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/patchbay/patchbay/internal/api"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// This file is the console's organisation pages (web.OrgBackend): groups,
// the patch calendar, exceptions and the knowledge base. Reads use the same
// views as the API; actions call the same functions as the API's handlers,
// as the signed-in user, and are written to the audit trail.

// orgError maps the API's errors onto what the console shows: a validation
// error on the form, a rule's refusal with its reason.
func orgError(err error) error {
	err = asStatus(err)
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return &web.Refusal{Kind: web.ErrConflict, Reason: "It changed meanwhile; reload the page and try again."}
	case errors.As(err, &e) && (e.Status == 400 || e.Status == 404):
		return &web.FormError{Message: e.Message}
	case errors.As(err, &e) && e.Status == 403:
		return &web.Refusal{Kind: web.ErrForbidden, Reason: e.Message}
	case errors.As(err, &e) && e.Status == 409:
		return &web.Refusal{Kind: web.ErrConflict, Reason: e.Message}
	}
	return err
}

// requireRole refuses u when its role lacks p, as the API's route table would.
func requireRole(u web.User, p Permission) error {
	if !RoleAllows(u.Role, p) {
		return web.ErrForbidden
	}
	return nil
}

func webGroup(v GroupView) web.OrgGroup {
	g := web.OrgGroup{Name: v.Name, Team: v.Team, Stakeholder: v.Stakeholder, Sysadmin: v.Sysadmin, Criticality: v.Criticality,
		Exposure: v.Exposure, Ring: v.Ring, Reboot: v.Reboot, HostCount: len(v.Hosts)}
	for _, w := range v.Windows {
		g.Windows = append(g.Windows, web.WindowRule{Name: w.Name, RRule: w.RRule, Start: w.Start, TZ: w.TZ, Duration: w.Duration, OffsetDays: w.OffsetDays})
	}
	for _, o := range v.NextWindows {
		g.NextWindows = append(g.NextWindows, web.WindowPeriod{Window: o.Window, Start: o.Start, End: o.End})
	}
	return g
}

// OrgGroups lists the groups as the API does, each with its next window.
func (b consoleBackend) OrgGroups(ctx context.Context) ([]web.OrgGroup, error) {
	_, org := b.s.org.get()
	hosts, err := b.s.hostInfos(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.OrgGroup
	for _, g := range org.Groups {
		v, err := b.s.groupView(ctx, org, g, hosts, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, webGroup(v))
	}
	return out, nil
}

// OrgGroup shows one group as the API does, with its team's members and
// the freezes that apply to it.
func (b consoleBackend) OrgGroup(ctx context.Context, name string, n int) (web.OrgGroup, error) {
	_, org := b.s.org.get()
	g, err := b.s.findGroup(org, name)
	if err != nil {
		return web.OrgGroup{}, web.ErrNotFound
	}
	hosts, err := b.s.hostInfos(ctx)
	if err != nil {
		return web.OrgGroup{}, err
	}
	v, err := b.s.groupView(ctx, org, g, hosts, n)
	if err != nil {
		return web.OrgGroup{}, err
	}
	out := webGroup(v)
	for i, id := range v.Hosts {
		out.Hosts = append(out.Hosts, web.GroupHost{ID: id, Hostname: v.Hostnames[i]})
	}
	for _, t := range org.Teams {
		if t.Name == g.Team {
			for _, m := range t.Members {
				out.Members = append(out.Members, web.TeamMember{User: m.User, Role: m.Role})
			}
		}
	}
	for _, l := range notify.WhoToCall(org, g.Name) {
		out.WhoToCall = append(out.WhoToCall, web.EscalationStep{After: l.After, People: l.People})
	}
	now := b.s.now()
	for _, f := range freezesFor(org, g.Team) {
		if f.End.After(now) {
			out.Freezes = append(out.Freezes, web.WindowPeriod{Window: f.Name, Start: f.Start, End: f.End, Reason: f.Reason})
		}
	}
	return out, nil
}

// CalendarEvents lists every group's window occurrences in [from, to) (a
// window a freeze of its team covers is marked frozen), the freezes, and
// the changes that are approved (placed at the next open window of their
// groups), running or halted.
func (b consoleBackend) CalendarEvents(ctx context.Context, from, to time.Time) ([]web.CalendarEvent, error) {
	_, org := b.s.org.get()
	var out []web.CalendarEvent
	for _, g := range org.Groups {
		freezes := freezesFor(org, g.Team)
		for _, spec := range g.Windows {
			evs, err := schedule.WindowEvents(toWindow(spec), g.Name, from, to)
			if err != nil {
				return nil, err
			}
			for _, e := range evs {
				out = append(out, web.CalendarEvent{Kind: web.EventWindow, Title: spec.Name, Detail: e.Description, Group: g.Name,
					Start: e.Start, End: e.End, Frozen: coveredByFreeze(e.Start, e.End, freezes)})
			}
		}
	}
	for _, f := range org.Freezes {
		if f.End.After(from) && f.Start.Before(to) {
			e := schedule.FreezeEvent(schedule.Freeze{Name: f.Name, Start: f.Start, End: f.End, Reason: f.Reason, Scope: f.Scope})
			out = append(out, web.CalendarEvent{Kind: web.EventFreeze, Title: f.Name + " (" + f.Scope + ")", Detail: e.Description, Start: f.Start, End: f.End})
		}
	}
	changes, err := b.s.store.ListChanges(ctx, ChangeApproved, ChangeRunning, ChangeHalted)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		e, ok, err := b.changeEvent(ctx, org, c)
		if err != nil {
			return nil, err
		}
		if ok && e.End.After(from) && e.Start.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

// coveredByFreeze says whether one freeze covers [start, end) whole, so the
// window does not open at all.
func coveredByFreeze(start, end time.Time, freezes []schedule.Freeze) bool {
	return slices.ContainsFunc(freezes, func(f schedule.Freeze) bool { return !start.Before(f.Start) && !end.After(f.End) })
}

// changeEvent places a change on the calendar: a running or halted one
// from its start until now, an approved one in the next open window of its
// groups (freezes subtracted), or from now when it ignores windows.
func (b consoleBackend) changeEvent(ctx context.Context, org *policy.Org, c store.Change) (web.CalendarEvent, bool, error) {
	now := b.s.now()
	e := web.CalendarEvent{Kind: web.EventChange, Title: c.Title, ChangeID: c.ID, State: c.State}
	if c.State == ChangeRunning || c.State == ChangeHalted {
		hist, err := b.s.store.ChangeHistory(ctx, c.ID)
		if err != nil {
			return e, false, err
		}
		e.Start = c.UpdatedAt
		if i := slices.IndexFunc(hist, func(h store.ChangeEvent) bool { return h.Kind == ChangeRunning }); i >= 0 {
			e.Start = hist[i].At
		}
		e.End = now
		if e.End.Sub(e.Start) < time.Hour {
			e.End = e.Start.Add(time.Hour)
		}
		e.Detail = "Rollout started " + e.Start.UTC().Format("2006-01-02 15:04 UTC")
		return e, true, nil
	}
	var spec ChangeSpec
	var plan rollout.Plan
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return e, false, err
	}
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return e, false, err
	}
	e.Start, e.End = now, now.Add(time.Hour)
	e.Detail = "Approved; it starts when an operator starts it."
	if spec.IgnoreWindows {
		return e, true, nil
	}
	var first *schedule.Occurrence
	for _, g := range org.Groups {
		if !slices.ContainsFunc(plan.Hosts, func(h rollout.HostPlan) bool { return h.Group == g.Name }) || len(g.Windows) == 0 {
			continue
		}
		var ws []schedule.Window
		for _, spec := range g.Windows {
			ws = append(ws, toWindow(spec))
		}
		occ, err := schedule.Next(ws, freezesFor(org, g.Team), now, 1)
		if err != nil {
			return e, false, err
		}
		if len(occ) == 1 && (first == nil || occ[0].Start.Before(first.Start)) {
			first = &occ[0]
		}
	}
	if first != nil {
		e.Start, e.End = first.Start, first.End
		e.Detail = "Approved; its first wave runs in window " + first.Window + " once an operator starts it."
	}
	return e, true, nil
}

// CalendarTargets lists the teams and groups of the organisation.
func (b consoleBackend) CalendarTargets(ctx context.Context) (teams, groups []string, err error) {
	_, org := b.s.org.get()
	for _, t := range org.Teams {
		teams = append(teams, t.Name)
	}
	for _, g := range org.Groups {
		groups = append(groups, g.Name)
	}
	return teams, groups, nil
}

// CalendarFeeds lists the calendar subscriptions as the API does: never
// their secrets, which only a hash of is kept anyway.
func (b consoleBackend) CalendarFeeds(ctx context.Context) ([]web.CalendarFeed, error) {
	cs, err := b.s.store.ListCalendarFeeds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.CalendarFeed, 0, len(cs))
	for _, c := range cs {
		f := web.CalendarFeed{ID: c.ID, Scope: c.Scope, Name: c.Name, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt}
		if c.RevokedAt != nil {
			f.RevokedAt = *c.RevokedAt
		}
		out = append(out, f)
	}
	return out, nil
}

// CreateCalendarFeed makes a secret calendar URL as the API does.
func (b consoleBackend) CreateCalendarFeed(ctx context.Context, u web.User, scope, name string) (web.CalendarFeed, string, error) {
	if err := requireRole(u, PermCalendars); err != nil {
		return web.CalendarFeed{}, "", err
	}
	ctx = b.begin(ctx, u, "calendar.create", "calendar for "+scope+" "+name)
	c, path, err := b.s.createCalendar(asPrincipal(ctx, u), scope, name)
	b.audited(ctx, u, "calendar.create", "calendar "+c.ID+" for "+scope+" "+name, err)
	if err != nil {
		return web.CalendarFeed{}, "", orgError(err)
	}
	return web.CalendarFeed{ID: c.ID, Scope: c.Scope, Name: c.Name, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt}, path, nil
}

// RevokeCalendarFeed revokes a calendar URL as the API does.
func (b consoleBackend) RevokeCalendarFeed(ctx context.Context, u web.User, id string) error {
	if err := requireRole(u, PermCalendars); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "calendar.revoke", "calendar "+id)
	err := b.s.revokeCalendar(asPrincipal(ctx, u), id)
	b.audited(ctx, u, "calendar.revoke", "calendar "+id, err)
	return orgError(err)
}

// Exceptions lists the exceptions as the API does, saying for each whether
// u may approve or revoke it now by the same rules the actions apply.
func (b consoleBackend) Exceptions(ctx context.Context, u web.User) ([]web.Exception, error) {
	es, err := b.s.store.ListExceptions(ctx)
	if err != nil {
		return nil, err
	}
	pctx := asPrincipal(ctx, u)
	hostnames := map[string]string{}
	out := make([]web.Exception, 0, len(es))
	for _, e := range es {
		v := b.s.exceptionView(e)
		x := web.Exception{ID: v.ID, Team: v.Team, Advisory: v.Advisory, Package: v.Package, Host: v.Host, Group: v.Group,
			Justification: v.Justification, RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt, ApprovedBy: v.ApprovedBy,
			ExpiresAt: v.ExpiresAt, State: v.State}
		if v.ApprovedAt != nil {
			x.ApprovedAt = *v.ApprovedAt
		}
		if v.RevokedAt != nil {
			x.RevokedAt = *v.RevokedAt
		}
		if x.Host != "" {
			name, ok := hostnames[x.Host]
			if !ok {
				if h, err := b.s.store.GetHost(ctx, x.Host); err == nil {
					name = h.Hostname
				}
				hostnames[x.Host] = name
			}
			x.Hostname = name
		}
		if v.State == "pending" && RoleAllows(u.Role, PermExceptionsApprove) {
			_, aerr := b.s.mayApproveException(pctx, e)
			x.CanApprove = aerr == nil
		}
		if (v.State == "pending" || v.State == "active") && RoleAllows(u.Role, PermExceptionsRequest) {
			x.CanRevoke = b.s.mayRevokeException(pctx, e) == nil
		}
		out = append(out, x)
	}
	return out, nil
}

// ExceptionTeams lists the organisation's teams.
func (b consoleBackend) ExceptionTeams(ctx context.Context) ([]string, error) {
	teams, _, err := b.CalendarTargets(ctx)
	return teams, err
}

// RequestException asks for a risk acceptance as the API does.
func (b consoleBackend) RequestException(ctx context.Context, u web.User, req web.ExceptionRequest) (string, error) {
	if err := requireRole(u, PermExceptionsRequest); err != nil {
		return "", err
	}
	ctx = b.begin(ctx, u, "exception.request", "exception team "+req.Team)
	e, err := b.s.requestException(asPrincipal(ctx, u), ExceptionRequest{Team: req.Team, Advisory: req.Advisory, Package: req.Package,
		Host: req.Host, Group: req.Group, Justification: req.Justification, Expires: req.Expires.UTC().Format(time.RFC3339)})
	b.audited(ctx, u, "exception.request", "exception "+e.ID+" team "+e.Team, err)
	return e.ID, orgError(err)
}

// ExceptionAction approves or revokes an exception as the API does.
func (b consoleBackend) ExceptionAction(ctx context.Context, u web.User, id, action string) error {
	var err error
	switch action {
	case "approve":
		if err = requireRole(u, PermExceptionsApprove); err == nil {
			ctx = b.begin(ctx, u, "exception."+action, "exception "+id)
			_, err = b.s.approveException(asPrincipal(ctx, u), id)
		}
	case "revoke":
		if err = requireRole(u, PermExceptionsRequest); err == nil {
			ctx = b.begin(ctx, u, "exception."+action, "exception "+id)
			_, err = b.s.revokeException(asPrincipal(ctx, u), id)
		}
	default:
		return web.ErrNotFound
	}
	b.audited(ctx, u, "exception."+action, "exception "+id, err)
	return orgError(err)
}

func webKB(e store.KBEntry) web.KBEntry {
	v := web.KBEntry{ID: e.ID, Title: e.Title, Problem: e.Problem, Symptoms: e.Symptoms, Fix: e.Fix, Distro: e.Distro,
		Changes: e.Changes, Hosts: e.Hosts, Status: e.Status, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	for _, p := range e.Packages {
		v.Packages = append(v.Packages, web.KBPackage{Name: p.Name, Versions: p.Versions})
	}
	return v
}

// KBEntries lists the knowledge base, newest first.
func (b consoleBackend) KBEntries(ctx context.Context) ([]web.KBEntry, error) {
	es, err := b.s.store.ListKBEntries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.KBEntry, 0, len(es))
	for _, e := range es {
		out = append(out, webKB(e))
	}
	return out, nil
}

// KBEntry returns one knowledge-base entry.
func (b consoleBackend) KBEntry(ctx context.Context, id string) (web.KBEntry, error) {
	e, err := b.s.store.GetKBEntry(ctx, id)
	if err != nil {
		return web.KBEntry{}, orgError(err)
	}
	return webKB(e), nil
}

// SaveKBEntry creates or replaces an entry as the API does.
func (b consoleBackend) SaveKBEntry(ctx context.Context, u web.User, e web.KBEntry) (string, error) {
	if err := requireRole(u, PermKBWrite); err != nil {
		return "", err
	}
	v := KBView{ID: e.ID, Title: e.Title, Problem: e.Problem, Symptoms: e.Symptoms, Fix: e.Fix, Distro: e.Distro,
		Changes: e.Changes, Hosts: e.Hosts, Status: e.Status}
	for _, p := range e.Packages {
		v.Packages = append(v.Packages, api.KBPackage{Name: p.Name, Versions: p.Versions})
	}
	action := "kb.update"
	if e.ID == "" {
		action = "kb.create"
	}
	ctx = b.begin(ctx, u, action, "kb "+e.ID)
	saved, err := b.s.putKB(asPrincipal(ctx, u), v)
	b.audited(ctx, u, action, "kb "+saved.ID, err)
	return saved.ID, orgError(err)
}
