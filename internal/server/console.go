package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// consoleBackend gives the web console the same services and permissions
// as the API.
type consoleBackend struct{ s *Server }

// Authenticate signs a console user in under the same limits as the API's
// sign-in (signIn): one limiter for both.
func (b consoleBackend) Authenticate(ctx context.Context, username, password string) (web.User, error) {
	u, err := b.s.signIn(ctx, username, password, web.RemoteAddr(ctx))
	var e *Error
	switch {
	case errors.Is(err, errBadCredentials):
		return web.User{}, web.ErrBadLogin
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return web.User{}, fmt.Errorf("%w: %s", web.ErrThrottled, e.Message)
	case err != nil:
		return web.User{}, err
	}
	return web.User{ID: u.ID, Username: u.Username, Role: u.Role, Epoch: passwordEpoch(u)}, nil
}

func (b consoleBackend) UserByID(ctx context.Context, id string) (web.User, error) {
	u, err := b.s.store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.DisabledAt != nil) {
		return web.User{}, web.ErrNotFound
	}
	if err != nil {
		return web.User{}, err
	}
	return web.User{ID: u.ID, Username: u.Username, Role: u.Role, Epoch: passwordEpoch(u)}, nil
}

func (b consoleBackend) Allowed(u web.User, perm string) bool {
	return RoleAllows(u.Role, Permission(perm))
}

func (b consoleBackend) host(h store.Host) web.Host {
	s := b.s
	_, org := s.org.get()
	eff := org.Effective(hostInfo(h))
	v := web.Host{ID: h.ID, Hostname: h.Hostname, OS: h.Facts.OS.ID, OSVersion: h.Facts.OS.VersionID, Kernel: h.Facts.Kernel,
		Arch: h.Facts.Arch, Addresses: h.Facts.Addresses, LastSeen: h.LastSeenAt, Stale: s.now().Sub(h.LastSeenAt) > s.staleAfter(),
		RebootRequired: h.Facts.RebootRequired, Packages: h.PackageCount, AgentVersion: h.Facts.AgentVersion}
	if len(eff.Stakeholders) > 0 {
		v.Owner = eff.Stakeholders[0]
	}
	if eff.Criticality > 0 {
		v.Criticality = string(rune('0' + eff.Criticality))
	}
	return v
}

func (b consoleBackend) Hosts(ctx context.Context, q web.HostQuery) ([]web.Host, string, int, error) {
	f := store.HostFilter{Search: q.Search, OS: q.OS, Limit: q.Limit, After: q.After}
	if q.Stale != nil {
		cut := b.s.now().Add(-b.s.staleAfter())
		if *q.Stale {
			f.SeenBefore = &cut
		} else {
			f.SeenSince = &cut
		}
	}
	hs, next, err := b.s.store.ListHosts(ctx, f)
	if err != nil {
		return nil, "", 0, err
	}
	total, err := b.s.store.CountHosts(ctx, f)
	if err != nil {
		return nil, "", 0, err
	}
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
	}
	open, err := b.s.store.OpenFindingsByHost(ctx, ids)
	if err != nil {
		return nil, "", 0, err
	}
	out := make([]web.Host, 0, len(hs))
	for _, h := range hs {
		v := b.host(h)
		v.Findings = open[h.ID]
		out = append(out, v)
	}
	return out, next, total, nil
}

func (b consoleBackend) finding(f store.Finding) web.Finding {
	v := web.Finding{ID: f.ID, AdvisoryID: f.AdvisoryID, Summary: f.Summary, HostID: f.HostID, Hostname: f.Hostname, Package: f.Name,
		InstalledVersion: f.InstalledVersion, FixedVersion: f.FixedVersion, Severity: f.Severity, Priority: int(math.Round(f.Priority)),
		KEV: f.KEV, SSVC: f.SSVC, Reasons: f.Reasons}
	if v.Severity == "" {
		v.Severity = "unknown"
	}
	if f.DueAt != nil {
		v.Due = *f.DueAt
	}
	return v
}

func (b consoleBackend) Host(ctx context.Context, id string) (web.Host, []web.Package, []web.Finding, error) {
	h, err := b.s.store.GetHost(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return web.Host{}, nil, nil, web.ErrNotFound
	}
	if err != nil {
		return web.Host{}, nil, nil, err
	}
	pkgs, err := b.s.store.ListHostPackages(ctx, id)
	if err != nil {
		return web.Host{}, nil, nil, err
	}
	fs, _, err := b.s.store.ListFindings(ctx, store.FindingFilter{HostID: id, Limit: 10000})
	if err != nil {
		return web.Host{}, nil, nil, err
	}
	v := b.host(h)
	v.Findings = len(fs)
	var wp []web.Package
	for _, p := range pkgs {
		wp = append(wp, web.Package{Name: p.Name, Version: p.Version, Arch: p.Arch, Source: p.Source, Ecosystem: string(p.Format)})
	}
	var wf []web.Finding
	for _, f := range fs {
		wf = append(wf, b.finding(f))
	}
	return v, wp, wf, nil
}

func (b consoleBackend) Findings(ctx context.Context, q web.FindingQuery) ([]web.Finding, string, error) {
	f, err := b.findingFilter(ctx, q)
	if err != nil {
		return nil, "", err
	}
	fs, next, err := b.s.store.ListFindings(ctx, f)
	if err != nil {
		return nil, "", err
	}
	out := make([]web.Finding, 0, len(fs))
	for _, x := range fs {
		out = append(out, b.finding(x))
	}
	return out, next, nil
}

// findingFilter is the store's filter for the console's finding list; the
// host is an ID or an exact hostname.
func (b consoleBackend) findingFilter(ctx context.Context, q web.FindingQuery) (store.FindingFilter, error) {
	f := store.FindingFilter{Severity: q.Severity, KEV: q.KEV, Limit: q.Limit, After: q.After}
	if q.Host != "" {
		if _, err := b.s.store.GetHost(ctx, q.Host); err == nil {
			f.HostID = q.Host
		} else {
			hs, _, err := b.s.store.ListHosts(ctx, store.HostFilter{Search: q.Host, Limit: 1000})
			if err != nil {
				return f, err
			}
			f.HostID = "no-such-host"
			for _, h := range hs {
				if h.Hostname == q.Host {
					f.HostID = h.ID
				}
			}
		}
	}
	return f, nil
}

// change shows a change; in detail, also every host of its plan with its
// status (hostnames read in one batch), its sign-offs and its plan.
func (b consoleBackend) change(ctx context.Context, c store.Change, detail bool) (web.Change, error) {
	v := web.Change{ID: c.ID, Title: c.Title, State: c.State, Author: c.Author, ApprovedBy: c.ApprovedBy, Created: c.CreatedAt}
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return v, err
	}
	v.HostCount, v.Waves = len(plan.Hosts), planWaves(plan)
	var st *rollout.State
	if detail && len(c.Engine) > 0 {
		st = &rollout.State{}
		if err := json.Unmarshal(c.Engine, st); err != nil {
			return v, err
		}
	}
	var names map[string]string
	if detail {
		ids := make([]string, len(plan.Hosts))
		for i, hp := range plan.Hosts {
			ids[i] = hp.HostID
		}
		var err error
		if names, err = b.s.store.Hostnames(ctx, ids); err != nil {
			return v, err
		}
	}
	for _, hp := range plan.Hosts {
		if !slices.Contains(v.Groups, hp.Group) && hp.Group != "" {
			v.Groups = append(v.Groups, hp.Group)
		}
		if !detail {
			continue
		}
		ch := web.ChangeHost{HostID: hp.HostID, Hostname: hp.HostID, Ring: hp.Ring, Status: "planned", Group: hp.Group}
		for _, t := range hp.Targets {
			ch.Targets = append(ch.Targets, t.Name+" "+t.Version)
		}
		switch {
		case hp.NeedsReboot:
			ch.AfterPatch = "reboot"
		case len(hp.RestartOnly) > 0:
			ch.AfterPatch = "restart " + strings.Join(hp.RestartOnly, " ")
		}
		if name, ok := names[hp.HostID]; ok {
			ch.Hostname = name
		}
		if st != nil {
			if hv, ok := st.Host(hp.HostID); ok {
				ch.Status, ch.Detail = string(hv.Status), hv.Detail
			}
		}
		v.Hosts = append(v.Hosts, ch)
	}
	if !detail {
		return v, nil // the list shows neither sign-offs nor the plan: no query per change
	}
	if st != nil {
		v.Wave = st.Summary().WaveNumber
	}
	var err error
	if v.Waiting, err = b.s.waitingFor(ctx, c, c.Engine); err != nil {
		return v, err
	}
	sos, err := b.s.store.SignOffs(ctx, c.ID)
	if err != nil {
		return v, err
	}
	for _, so := range sos {
		v.SignOffs = append(v.SignOffs, web.SignOffView{Group: so.Group, By: so.By, OK: so.OK, Problem: so.Problem})
	}
	if v.Plan, err = b.plan(ctx, c, plan); err != nil {
		return v, err
	}
	out, err := b.s.jobsOut(ctx, c.ID)
	if err != nil {
		return v, err
	}
	for _, j := range out {
		v.JobsOut = append(v.JobsOut, cmp.Or(j.Hostname, j.HostID)+" ("+j.Phase+")")
	}
	hist, err := b.s.store.ChangeHistory(ctx, c.ID)
	if err != nil {
		return v, err
	}
	for _, e := range hist {
		v.History = append(v.History, web.ChangeEvent{At: e.At, Actor: e.Actor, Kind: e.Kind, Detail: e.Detail})
	}
	return v, nil
}

// plan is what the change page shows the approver of a change's plan: the
// same figures, windows and known problems as `patchbay changes plan`.
func (b consoleBackend) plan(ctx context.Context, c store.Change, plan rollout.Plan) (*web.ChangePlan, error) {
	var spec ChangeSpec
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return nil, err
	}
	p := &web.ChangePlan{Rings: plan.Rings, Soak: plan.Soak, JobTimeout: plan.JobTimeout, HealthChecks: plan.HealthChecks,
		AutoRollback: plan.AutoRollback, IgnoreWindows: spec.IgnoreWindows,
		Batch: countOrPercent(plan.BatchSize, plan.BatchPercent), FailureBudget: countOrPercent(plan.FailureBudget, plan.FailurePercent)}
	for g, ws := range plan.Windows {
		for _, w := range ws[:min(len(ws), 3)] {
			p.Windows = append(p.Windows, web.UpcomingWindow{Group: g, Start: w.Start, End: w.End})
		}
	}
	slices.SortFunc(p.Windows, func(a, b web.UpcomingWindow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	kp, err := b.s.knownProblems(ctx, plan)
	if err != nil {
		return nil, err
	}
	for _, k := range kp {
		p.KnownProblems = append(p.KnownProblems, web.KnownProblem{ID: k.ID, Title: k.Title, Problem: k.Problem, Fix: k.Fix, Status: k.Status})
	}
	p.Review = consolePlanReview(planReview(c.Plan))
	return p, nil
}

// countOrPercent writes a plan's count or percentage as the page shows it.
func countOrPercent(n, pct int) string {
	switch {
	case pct > 0:
		return fmt.Sprintf("%d %% of each ring", pct)
	case n == 1:
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}

func (b consoleBackend) Changes(ctx context.Context) ([]web.Change, error) {
	cs, err := b.s.store.ListChanges(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.Change
	for _, c := range cs {
		v, err := b.change(ctx, c, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (b consoleBackend) Change(ctx context.Context, id string) (web.Change, error) {
	c, err := b.s.store.GetChange(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return web.Change{}, web.ErrNotFound
	}
	if err != nil {
		return web.Change{}, err
	}
	v, err := b.change(ctx, c, true)
	if err != nil {
		return v, err
	}
	if ci, err := b.s.store.GetChangeIssue(ctx, c.ID, jiraChannelName); err == nil {
		v.Ticket = &web.ChangeTicket{Tracker: "Jira", Key: ci.Key, URL: ci.URL}
	} else if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	return v, nil
}

// ChangeActions lists the actions u may take on the change now, by the
// lifecycle table, so the page shows a button only where the action would
// be allowed.
func (b consoleBackend) ChangeActions(ctx context.Context, u web.User, id string) ([]string, error) {
	c, err := b.s.store.GetChange(ctx, id)
	if err != nil {
		return nil, consoleError(err)
	}
	return b.s.changeActionsFor(asPrincipal(ctx, u), c)
}

// consoleError maps the API's errors onto the console's.
func consoleError(err error) error {
	var e *Error
	if le, ok := lifecycleError(err); ok {
		err = le
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case errors.As(err, &e) && e.Status == 403:
		return web.ErrForbidden
	case errors.As(err, &e) && e.Status == 409:
		return web.ErrConflict
	}
	return err
}

func asPrincipal(ctx context.Context, u web.User) context.Context {
	return context.WithValue(ctx, principalKey{}, Principal{UserID: u.ID, Role: u.Role, TokenID: "console"})
}

// CreateChange drafts a change exactly as the API does and submits it for
// approval, as the signed-in user.
func (b consoleBackend) CreateChange(ctx context.Context, u web.User, req web.ChangeRequest) (string, error) {
	ctx = asPrincipal(ctx, u)
	spec := ChangeSpec{Title: req.Title, Groups: req.Groups, Advisories: req.Advisories, BatchSize: req.BatchSize,
		FailureBudget: req.FailureBudget, IgnoreWindows: req.IgnoreWindows, Reboot: req.Reboot, Start: req.Start,
		AllowDowngrade: req.AllowDowngrade, ForceNotOffered: req.ForceNotOffered}
	if req.Soak > 0 {
		spec.Soak = req.Soak.String()
	}
	ctx = b.begin(ctx, u, "change.create", "new change")
	c, err := b.s.createChange(ctx, u.Username, spec)
	if err == nil {
		_, err = b.s.transition(ctx, c.ID, b.s.changeActionFn(ctx, change.Submit, actionArgs{}))
	}
	b.audited(ctx, u, "change.create", "change "+c.ID, err)
	return c.ID, consoleError(err)
}

// Groups lists the organisation's group names.
func (b consoleBackend) Groups(ctx context.Context) ([]string, error) {
	_, org := b.s.org.get()
	var out []string
	for _, g := range org.Groups {
		out = append(out, g.Name)
	}
	return out, nil
}

// SignOff records a stakeholder's verdict through the same rules as the API.
func (b consoleBackend) SignOff(ctx context.Context, u web.User, changeID, group string, ok bool, problem string) error {
	ctx = asPrincipal(ctx, u)
	ctx = b.begin(ctx, u, "change.signoff", "change "+changeID+" group "+group)
	_, err := b.s.signOff(ctx, u.Username, u.Role == RoleAdmin, changeID, SignOffRequest{Group: group, OK: ok, Problem: problem})
	b.audited(ctx, u, "change.signoff", "change "+changeID+" group "+group, err)
	return consoleError(err)
}

// ChangeAction runs the same transition as the API, as the signed-in user,
// and records it in the audit trail.
func (b consoleBackend) ChangeAction(ctx context.Context, u web.User, id, action string) error {
	a, ok := apiActions[action]
	if !ok {
		return web.ErrNotFound
	}
	ctx = asPrincipal(ctx, u)
	ctx = b.begin(ctx, u, "change."+action, "change "+id)
	_, err := b.s.transition(ctx, id, b.s.changeActionFn(ctx, a, actionArgs{}))
	b.audited(ctx, u, "change."+action, "change "+id, err)
	return consoleError(err)
}

func (b consoleBackend) Audit(ctx context.Context, from, limit int) ([]web.AuditEntry, error) {
	var out []web.AuditEntry
	err := b.s.store.AuditRange(ctx, uint64(max(from, 1)), uint64(max(from, 1)+max(limit, 1)-1), func(r store.AuditRecord) error {
		var e audit.Entry
		if err := json.Unmarshal(r.Entry, &e); err != nil {
			return err
		}
		out = append(out, web.AuditEntry{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Outcome})
		return nil
	})
	return out, err
}

func (b consoleBackend) Record(ctx context.Context, e web.AuditEntry) {
	t := e.Time
	if t.IsZero() {
		t = b.s.now()
	}
	ae := audit.Entry{Time: t, Actor: e.Actor, Action: e.Action, Target: e.Target + " from " + e.RemoteAddr, Outcome: e.Detail}
	if e.Action == "login.failure" || e.Action == "login.blocked" {
		// Anyone can cause these: bounded, and repeats counted (refusals.go).
		b.s.refusals.record(ctx, ae, e.RemoteAddr)
		return
	}
	if err := b.s.audit.record(context.WithoutCancel(ctx), ae); err != nil {
		b.s.log.Error("audit append failed", "err", err)
	}
}
