package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchbay/patchbay/internal/api"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/metrics"
	"github.com/patchbay/patchbay/internal/policy"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// KBView is a knowledge-base entry as the API shows it.
type KBView = api.KBEntry

func kbView(e store.KBEntry) KBView {
	v := KBView{ID: e.ID, Title: e.Title, Problem: e.Problem, Symptoms: e.Symptoms, Fix: e.Fix, Packages: []api.KBPackage{},
		Distro: e.Distro, Changes: e.Changes, Hosts: e.Hosts, Status: e.Status, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	for _, p := range e.Packages {
		v.Packages = append(v.Packages, api.KBPackage(p))
	}
	return v
}

func (s *Server) handlePutKB(w http.ResponseWriter, r *http.Request) error {
	var v KBView
	if err := decodeJSON(w, r, 1<<20, &v); err != nil {
		return err
	}
	v.ID = r.PathValue("id")
	e, err := s.putKB(r.Context(), v)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if v.ID == "" {
		status = http.StatusCreated
	}
	return writeJSON(w, status, kbView(e))
}

// putKB validates and stores a knowledge-base entry as the caller in ctx:
// a new one when v.ID is "", else it replaces that entry, keeping its
// author and creation time. The API and the console call it.
func (s *Server) putKB(ctx context.Context, v KBView) (store.KBEntry, error) {
	if strings.TrimSpace(v.Title) == "" || strings.TrimSpace(v.Problem) == "" || len(v.Packages) == 0 {
		return store.KBEntry{}, errBadRequest("title, problem and at least one package are required")
	}
	for i, p := range v.Packages {
		if !protocolValidPackage(p.Name, "1") {
			return store.KBEntry{}, errBadRequest(fmt.Sprintf("packages[%d].name: %q is not a package name", i, p.Name))
		}
	}
	now := s.now()
	pkgs := make([]store.KBPackage, 0, len(v.Packages))
	for _, p := range v.Packages {
		pkgs = append(pkgs, store.KBPackage(p))
	}
	e := store.KBEntry{ID: v.ID, Title: v.Title, Problem: v.Problem, Symptoms: v.Symptoms, Fix: v.Fix, Packages: pkgs,
		Distro: v.Distro, Changes: v.Changes, Hosts: v.Hosts, Status: v.Status, CreatedBy: principalName(ctx, s), CreatedAt: now, UpdatedAt: now}
	if e.Status == "" {
		e.Status = "published"
	}
	if e.Status != "draft" && e.Status != "published" {
		return store.KBEntry{}, errBadRequest("status must be draft or published")
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	} else if old, err := s.store.GetKBEntry(ctx, e.ID); err == nil {
		e.CreatedBy, e.CreatedAt = old.CreatedBy, old.CreatedAt
	} else {
		return store.KBEntry{}, err
	}
	auditSummary(ctx, "knowledge-base entry %s %q saved as %s", e.ID, e.Title, e.Status)
	if err := s.store.PutKBEntry(ctx, e); err != nil {
		return store.KBEntry{}, err
	}
	return e, nil
}

func (s *Server) handleListKB(w http.ResponseWriter, r *http.Request) error {
	es, err := s.store.ListKBEntries(r.Context())
	if err != nil {
		return err
	}
	pkg := r.URL.Query().Get("package")
	out := []KBView{}
	for _, e := range es {
		if pkg == "" || slices.ContainsFunc(e.Packages, func(p store.KBPackage) bool { return p.Name == pkg }) {
			out = append(out, kbView(e))
		}
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

func (s *Server) handleGetKB(w http.ResponseWriter, r *http.Request) error {
	e, err := s.store.GetKBEntry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, 200, kbView(e))
}

// knownProblems lists the knowledge-base entries about the packages a plan
// touches, whatever the versions (the entry says which versions showed the
// problem), for the hosts' distribution when the entry names one.
func (s *Server) knownProblems(ctx context.Context, plan rollout.Plan) ([]KBView, error) {
	es, err := s.store.ListKBEntries(ctx)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	var out []KBView
	for _, e := range es {
		hit := false
		for _, hp := range plan.Hosts {
			for _, t := range hp.Targets {
				for _, p := range e.Packages {
					if p.Name == t.Name &&
						(e.Distro == "" || strings.HasPrefix(strings.ReplaceAll(hp.Platform, "-", " "), e.Distro)) {
						hit = true
					}
				}
			}
		}
		if hit {
			out = append(out, kbView(e))
		}
	}
	return out, nil
}

// SignOffRequest is a stakeholder's verdict for one group of a change.
type SignOffRequest struct {
	Group    string `json:"group"`
	OK       bool   `json:"ok"`
	Problem  string `json:"problem,omitempty"`
	Symptoms string `json:"symptoms,omitempty"`
}

// handleSignOff records that a group's stakeholder confirms the systems
// work after the change, or reports a problem, which opens a draft
// knowledge-base entry linked to the change, its packages and the hosts.
func (s *Server) handleSignOff(w http.ResponseWriter, r *http.Request) error {
	var req SignOffRequest
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		return err
	}
	ctx := r.Context()
	so, err := s.signOff(ctx, principalName(ctx, s), principalFrom(ctx).Role == RoleAdmin, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, signOffView(so))
}

// signOff records a stakeholder's verdict for one group of a change; see
// handleSignOff. The console calls it too. The lifecycle table decides
// whether the caller may sign off for the group now and where the change
// goes: it completes when every group has signed off, with problems when
// any group reported one. A problem opens a knowledge-base draft and
// notifies the change's author and the group's sysadmin.
func (s *Server) signOff(ctx context.Context, who string, _ bool, changeID string, req SignOffRequest) (store.SignOff, error) {
	c, err := s.store.GetChange(ctx, changeID)
	if err != nil {
		return store.SignOff{}, err
	}
	if !req.OK && strings.TrimSpace(req.Problem) == "" {
		return store.SignOff{}, errBadRequest("problem: say what does not work")
	}
	action := change.SignOffOK
	if !req.OK {
		action = change.SignOffProblem
	}
	args := actionArgs{Group: req.Group, Reason: req.Problem}
	// Ask the table before anything is written; the transition below asks
	// again with the stored sign-offs.
	facts, err := s.changeFacts(ctx, c, action)
	if err != nil {
		return store.SignOff{}, err
	}
	if _, err := change.Decide(facts, change.Request{Action: action, Group: req.Group, Reason: req.Problem}, s.changeActor(ctx), s.now()); err != nil {
		return store.SignOff{}, err
	}
	if _, done := facts.SignOffs[req.Group]; done {
		return store.SignOff{}, &Error{http.StatusConflict, "conflict", fmt.Sprintf("group %s has signed off change %s already; add what you found to its retrospective", req.Group, c.ID)}
	}
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return store.SignOff{}, err
	}
	_, org := s.org.get()
	g, err := s.findGroup(org, req.Group)
	if err != nil {
		return store.SignOff{}, errBadRequest(fmt.Sprintf("group: %q is not a group of this change", req.Group))
	}
	now := s.now()
	so := store.SignOff{ChangeID: c.ID, Group: g.Name, By: who, OK: req.OK, At: now, Problem: req.Problem}
	auditSummary(ctx, "change %s signed off for group %s by %s (ok: %t)", c.ID, so.Group, who, so.OK)
	if !req.OK {
		kb := store.KBEntry{ID: uuid.NewString(), Title: "After change: " + c.Title, Problem: req.Problem, Symptoms: req.Symptoms,
			Changes: []string{c.ID}, Status: "draft", CreatedBy: who, CreatedAt: now, UpdatedAt: now}
		seen := map[string]bool{}
		for _, hp := range plan.Hosts {
			if hp.Group != g.Name {
				continue
			}
			kb.Hosts = append(kb.Hosts, hp.HostID)
			for _, t := range hp.Targets {
				if !seen[t.Name] {
					seen[t.Name] = true
					kb.Packages = append(kb.Packages, store.KBPackage{Name: t.Name, Versions: []string{t.Version}})
				}
			}
		}
		auditSummary(ctx, "%s reported a problem after change %s for group %s; knowledge-base draft %s opened", who, c.ID, g.Name, kb.ID)
		// The author and the group's sysadmin are told with the draft.
		problem := notify.Event{ID: c.ID + ":" + g.Name, Kind: notify.SignOffProblem, At: now, Subject: fmt.Sprintf("%s reports a problem after %q", who, c.Title),
			Text: req.Problem + "\nKnowledge-base draft: " + kb.ID, Link: "/changes/" + c.ID, Change: c.ID, Groups: []string{g.Name}, Author: c.Author, Actor: who}
		if err := s.store.PutKBEntry(s.notifying(ctx, problem), kb); err != nil {
			return store.SignOff{}, err
		}
		so.KBID = kb.ID
	}
	// The verdict and the state it leads to are written together.
	_, err = s.transition(ctx, c.ID, s.changeActionFn(ctx, action, args), func(u *store.ChangeUpdate) { u.SignOff = &so })
	if errors.Is(err, store.ErrConflict) {
		return store.SignOff{}, &Error{http.StatusConflict, "conflict", fmt.Sprintf("group %s has signed off change %s already", g.Name, c.ID)}
	}
	if err != nil {
		return store.SignOff{}, err
	}
	return so, nil
}

// Retrospective is a completed change's timeline and figures, with notes.
type Retrospective = api.Retrospective

func (s *Server) retrospective(ctx context.Context, c store.Change) (Retrospective, error) {
	r := Retrospective{Change: c.ID, Title: c.Title, State: c.State, Created: c.CreatedAt, Approved: c.ApprovedAt}
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return r, err
	}
	_, org := s.org.get()
	for _, hp := range plan.Hosts {
		if g, err := s.findGroup(org, hp.Group); err == nil && !slices.Contains(r.Teams, g.Team) {
			r.Teams = append(r.Teams, g.Team)
		}
	}
	slices.Sort(r.Teams)
	r.Waves, r.Hosts = planWaves(plan), len(plan.Hosts)
	hist, err := s.store.ChangeHistory(ctx, c.ID)
	if err != nil {
		return r, err
	}
	r.Timeline = changeEventsView(hist)
	var submitted *time.Time
	for _, e := range hist {
		at := e.At
		switch {
		case e.Kind == ChangePendingApproval && submitted == nil:
			submitted = &at
		case e.Kind == ChangeRunning && r.Started == nil:
			r.Started = &at
		case strings.HasPrefix(e.Detail, "completed") || strings.Contains(e.Detail, "; completed"):
			r.Finished = &at
		}
	}
	if submitted != nil && r.Approved != nil {
		r.TimeInApproval = r.Approved.Sub(*submitted).Round(time.Second).String()
	}
	if r.Started != nil && r.Finished != nil {
		r.Duration = r.Finished.Sub(*r.Started).Round(time.Second).String()
	}
	if len(c.Engine) > 0 {
		var st rollout.State
		if err := json.Unmarshal(c.Engine, &st); err != nil {
			return r, err
		}
		sum := st.Summary()
		r.Succeeded, r.Failed, r.RolledBack = sum.Succeeded, sum.Failed, sum.RolledBack
		if done := sum.Succeeded + sum.Failed + sum.RolledBack; done > 0 {
			rate := float64(sum.Succeeded) / float64(done)
			r.SuccessRate = &rate
		}
	}
	sos, err := s.store.SignOffs(ctx, c.ID)
	if err != nil {
		return r, err
	}
	r.SignOffs = signOffsView(sos)
	for _, so := range r.SignOffs {
		if !so.OK {
			r.Problems++
		}
	}
	if len(r.SignOffs) > 0 && r.Finished != nil {
		r.TimeToSignOff = r.SignOffs[0].At.Sub(*r.Finished).Round(time.Second).String()
	}
	notes, err := s.store.RetroNotes(ctx, c.ID)
	if err != nil {
		return r, err
	}
	r.Notes = retroNotesView(notes)
	return r, nil
}

func (s *Server) handleRetrospective(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.GetChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	retro, err := s.retrospective(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, retro)
}

func (s *Server) handleRetroNote(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	}
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if req.Kind != "note" && req.Kind != "action" {
		return errBadRequest("kind must be note or action")
	}
	if strings.TrimSpace(req.Text) == "" {
		return errBadRequest("text is required")
	}
	c, err := s.store.GetChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	n := store.RetroNote{At: s.now(), Author: principalName(r.Context(), s), Kind: req.Kind, Text: req.Text}
	auditSummary(r.Context(), "%s added to the retrospective of change %s by %s", n.Kind, c.ID, n.Author)
	if err := s.store.AddRetroNote(r.Context(), c.ID, n); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, retroNoteView(n))
}

// handleListRetrospectives lists the retrospectives of completed changes,
// per team (?team=) and for a month (?month=2026-11: the cycle view).
func (s *Server) handleListRetrospectives(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var from, to time.Time
	if m := q.Get("month"); m != "" {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			return errBadRequest("month must be YYYY-MM")
		}
		from, to = t, t.AddDate(0, 1, 0)
	}
	cs, err := s.store.ListChanges(r.Context(), ChangeAwaitingSignOff, ChangeCompleted, string(change.CompletedWithProblems))
	if err != nil {
		return err
	}
	out := []Retrospective{}
	for _, c := range cs {
		retro, err := s.retrospective(r.Context(), c)
		if err != nil {
			return err
		}
		if team := q.Get("team"); team != "" && !slices.Contains(retro.Teams, team) {
			continue
		}
		when := c.CreatedAt
		if retro.Finished != nil {
			when = *retro.Finished
		}
		if !from.IsZero() && (when.Before(from) || !when.Before(to)) {
			continue
		}
		retro.Timeline = nil
		out = append(out, retro)
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

// handleEvidence is the audit evidence pack of one change: the request,
// approvals, plan, per-host results, verification, sign-offs and every
// audit entry about it.
func (s *Server) handleEvidence(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := s.store.GetChange(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	view, err := s.changeView(ctx, c, true)
	if err != nil {
		return err
	}
	jobs, err := s.store.ChangeJobs(ctx, c.ID)
	if err != nil {
		return err
	}
	type jobView struct {
		ID, Host, Phase, Status string
		Seq                     uint64
		Created                 time.Time
		Finished                *time.Time
		Result                  json.RawMessage
	}
	var jv []jobView
	for _, j := range jobs {
		res := json.RawMessage(j.Result)
		if len(res) == 0 {
			res = nil
		}
		jv = append(jv, jobView{ID: j.ID, Host: j.HostID, Phase: j.Phase, Status: j.Status, Seq: j.Seq, Created: j.CreatedAt, Finished: j.FinishedAt, Result: res})
	}
	signoffs, err := s.store.SignOffs(ctx, c.ID)
	if err != nil {
		return err
	}
	var entries []audit.Entry
	err = s.store.AuditRange(ctx, 0, 0, func(rec store.AuditRecord) error {
		if bytes.Contains(rec.Entry, []byte(c.ID)) {
			var e audit.Entry
			if err := json.Unmarshal(rec.Entry, &e); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"evidence-%s.json\"", c.ID))
	return writeJSON(w, 200, map[string]any{"generated": s.now(), "change": view, "jobs": jv, "signoffs": signoffs, "audit": entries})
}

// handleReport computes the KPIs for a period (?from=&to= as dates,
// ?team=&group=&ring=&severity=) as JSON, CSV or printable HTML (?format=).
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := metrics.Filter{Team: q.Get("team"), Group: q.Get("group"), Ring: q.Get("ring"), Severity: q.Get("severity")}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return errBadRequest(name + " must be a date YYYY-MM-DD")
			}
			*dst = t
		}
	}
	if err := checkReportPeriod(f, s.now()); err != nil {
		return err
	}
	rep, err := s.report(r.Context(), f)
	if err != nil {
		return err
	}
	out, err := renderReport(rep, q.Get("format"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", out.contentType)
	if out.csp != "" {
		w.Header().Set("Content-Security-Policy", out.csp)
	}
	_, err = w.Write(out.body)
	return err
}

// report computes the KPIs for f from the stored history, as of now.
func (s *Server) report(ctx context.Context, f metrics.Filter) (metrics.Report, error) {
	in, err := s.reportInput(ctx)
	if err != nil {
		return metrics.Report{}, err
	}
	return metrics.Compute(in, f, s.now()), nil
}

// renderedReport is a report in one of the API's formats.
type renderedReport struct {
	contentType, csp, ext string
	body                  []byte
}

// renderReport renders rep as JSON, formula-safe CSV or the printable
// HTML page with the Content-Security-Policy it needs.
func renderReport(rep metrics.Report, format string) (renderedReport, error) {
	var buf bytes.Buffer
	switch format {
	case "", "json":
		if err := json.NewEncoder(&buf).Encode(rep); err != nil {
			return renderedReport{}, err
		}
		return renderedReport{contentType: "application/json", ext: "json", body: buf.Bytes()}, nil
	case "csv":
		if err := rep.CSV(&buf); err != nil {
			return renderedReport{}, err
		}
		return renderedReport{contentType: "text/csv; charset=utf-8", ext: "csv", body: buf.Bytes()}, nil
	case "html":
		if err := rep.HTML(&buf); err != nil {
			return renderedReport{}, err
		}
		return renderedReport{contentType: "text/html; charset=utf-8", csp: metrics.ContentSecurityPolicy(), ext: "html", body: buf.Bytes()}, nil
	}
	return renderedReport{}, errBadRequest("format must be json, csv or html")
}

// reportInput gathers the history the KPIs need. Hosts and findings come
// from the store's report rows (one per host); team, group, ring, owner,
// criticality and holds from the organisation as it is now.
func (s *Server) reportInput(ctx context.Context) (metrics.Input, error) {
	var in metrics.Input
	hosts, err := s.store.ReportHosts(ctx)
	if err != nil {
		return in, err
	}
	_, org := s.org.get()
	now := s.now()
	type hostCtx struct {
		team, group, ring, owner string
		crit                     int
		held                     func(pkg string) bool // nil: no group, so no holds
	}
	hc := make(map[string]*hostCtx, len(hosts))
	in.Hosts = make([]metrics.Host, 0, len(hosts))
	holders := make(map[string]int, len(hosts)) // hosts are every active host
	for _, h := range hosts {
		holders[h.Hostname]++
	}
	for _, h := range hosts {
		eff := org.Effective(policy.HostInfo{ID: h.ID, Hostname: h.Hostname, HostnameShared: holders[h.Hostname] > 1, Labels: h.Labels})
		c := &hostCtx{team: eff.Team, ring: eff.Ring, crit: eff.Criticality}
		if len(eff.Groups) > 0 {
			p := eff.Policy
			c.held = func(pkg string) bool { _, ok := p.Held(pkg, now); return ok }
			c.group = eff.Groups[0]
		}
		if len(eff.Stakeholders) > 0 {
			c.owner = eff.Stakeholders[0]
		}
		hc[h.ID] = c
		in.Hosts = append(in.Hosts, metrics.Host{ID: h.ID, Team: c.team, Group: c.group, Ring: c.ring, Criticality: c.crit})
	}

	rf, err := s.store.ReadReportFindings(ctx)
	if err != nil {
		return in, err
	}
	in.Findings = make([]metrics.Finding, 0, rf.Len())
	fixTimes := make([]time.Time, 0, rf.Len()) // FixAvailableAt points here: one allocation, not one per finding
	var lastHost string
	var c *hostCtx
	err = rf.Each(func(f store.ReportFinding) error {
		if f.HostID != lastHost { // findings come host by host
			lastHost, c = f.HostID, hc[f.HostID]
		}
		if c == nil {
			return nil // a revoked host's findings are not the fleet's
		}
		mf := metrics.Finding{ID: f.ID, HostID: f.HostID, Team: c.team, Group: c.group, Ring: c.ring, Severity: f.Severity, KEV: f.KEV,
			Criticality: c.crit, Priority: f.Priority, Published: f.Published, FirstSeen: f.FirstSeen, ResolvedAt: f.ResolvedAt,
			DueAt: f.DueAt, Excepted: f.Excepted, Owner: c.owner}
		if f.FixAvailable {
			// The store keeps whether a fix is available now, not since
			// when: first seen is the closest known time.
			fixTimes = append(fixTimes, f.FirstSeen)
			mf.FixAvailableAt = &fixTimes[len(fixTimes)-1]
		}
		if c.held != nil && c.held(f.Name) {
			mf.Held = true
		}
		if mf.Published.Unix() <= 0 {
			mf.Published = time.Time{}
		}
		in.Findings = append(in.Findings, mf)
		return nil
	})
	if err != nil {
		return in, err
	}
	cs, err := s.store.ListChanges(ctx)
	if err != nil {
		return in, err
	}
	for _, c := range cs {
		retro, err := s.retrospective(ctx, c)
		if err != nil {
			return in, err
		}
		mc := metrics.Change{ID: c.ID, Completed: retro.Finished, ProblemsReported: retro.Problems}
		if len(retro.Teams) > 0 {
			mc.Team = retro.Teams[0]
		}
		in.Changes = append(in.Changes, mc)
		jobs, err := s.store.ChangeJobs(ctx, c.ID)
		if err != nil {
			return in, err
		}
		rolledBack := map[string]bool{}
		for _, j := range jobs {
			if j.Phase == string(rollout.PhaseRollback) && j.Status == "done" {
				rolledBack[j.HostID] = true
			}
		}
		for _, j := range jobs {
			if j.Phase != string(rollout.PhaseInstall) {
				continue
			}
			mj := metrics.Job{ChangeID: c.ID, HostID: j.HostID, Dispatched: j.CreatedAt, Finished: j.FinishedAt, FirstAttempt: true,
				RolledBack: rolledBack[j.HostID]}
			var res struct {
				OK bool `json:"ok"`
			}
			if len(j.Result) > 0 {
				_ = json.Unmarshal(j.Result, &res)
			}
			mj.OK = res.OK
			if res.OK {
				// The agent verified the installed versions before reporting.
				mj.VerifiedAt = j.FinishedAt
			}
			in.Jobs = append(in.Jobs, mj)
		}
	}
	return in, nil
}
