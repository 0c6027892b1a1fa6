package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// This file connects the server to the change lifecycle (internal/change):
// every transition of a change, by a person, the scheduler or the engine,
// is decided by change.Decide and written by transition with its event.

// actionArgs are the arguments of a change action.
type actionArgs struct {
	Hosts  []string // rollback-host: host IDs
	Wave   string   // rollback-wave: the ring's name
	Group  string   // sign-offs
	Reason string   // halt, emergency stop, sign-off problem
	// Edit: the new title, spec and plan (JSON).
	Title      string
	Spec, Plan []byte
}

// apiActions maps the API's and console's action names to the lifecycle's.
// "rollback" is the whole change, or the hosts or wave its body names.
var apiActions = map[string]change.Action{
	"submit": change.Submit, "approve": change.Approve, "reject": change.Reject, "cancel": change.Cancel,
	"start": change.Start, "halt": change.Halt, "resume": change.Resume, "rollback": change.RollbackAll,
}

// changeActor is the caller in ctx as the lifecycle sees it: global role
// and team roles. The scheduler and engine loops act as the system.
func (s *Server) changeActor(ctx context.Context) change.Actor {
	p := principalFrom(ctx)
	a := change.Actor{Name: principalName(ctx, s), Role: change.Role(p.Role), Teams: map[string]string{}}
	if p.UserID == "" && (p.TokenID == "scheduler" || p.TokenID == "engine") {
		a.Role = change.RoleSystem
	}
	_, org := s.org.get()
	for _, t := range org.Teams {
		for _, m := range t.Members {
			if m.User == a.Name {
				a.Teams[t.Name] = m.Role
			}
		}
	}
	return a
}

// changeFacts is what the lifecycle needs to know about c to decide a:
// the owning teams and stakeholders of its groups, its digest and approval,
// and, where a needs them, its sign-offs, auto-approval and the emergency stop.
func (s *Server) changeFacts(ctx context.Context, c store.Change, a change.Action) (change.Change, error) {
	var spec ChangeSpec
	var plan rollout.Plan
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return change.Change{}, fmt.Errorf("change %s: spec: %w", c.ID, err)
	}
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return change.Change{}, fmt.Errorf("change %s: plan: %w", c.ID, err)
	}
	f := change.Change{ID: c.ID, State: change.State(c.State), Author: c.Author, Editors: c.Editors,
		ApprovedBy: c.ApprovedBy, ApprovedDigest: c.ApprovedDigest, Digest: planContent(spec, plan).Digest(),
		Scheduled: spec.Start != "", Stakeholders: map[string]string{}, SignOffs: map[string]bool{}}
	_, org := s.org.get()
	for _, hp := range plan.Hosts {
		if _, seen := f.Stakeholders[hp.Group]; seen {
			continue
		}
		f.Stakeholders[hp.Group] = ""
		if g, err := s.findGroup(org, hp.Group); err == nil {
			f.Stakeholders[hp.Group] = g.Stakeholder
			if !slices.Contains(f.Teams, g.Team) {
				f.Teams = append(f.Teams, g.Team)
			}
		}
	}
	slices.Sort(f.Teams)
	switch a {
	case change.SignOffOK, change.SignOffProblem:
		sos, err := s.store.SignOffs(ctx, c.ID)
		if err != nil {
			return f, err
		}
		for _, so := range sos {
			prev, seen := f.SignOffs[so.Group]
			f.SignOffs[so.Group] = so.OK && (!seen || prev) // a problem stands
		}
	case change.Submit:
		if rule, ok := s.autoApproval(ctx, &c); ok {
			f.AutoApproval = rule
		}
	case change.Start, change.Resume:
		f.EmergencyStop = s.emergencyStopped(ctx)
	}
	return f, nil
}

// planContent is what an approval of the change binds to.
func planContent(spec ChangeSpec, plan rollout.Plan) change.Content {
	return change.Content{Plan: plan, Start: spec.Start, Reboot: spec.Reboot, IgnoreWindows: spec.IgnoreWindows}
}

// changeActionFn is the transition an action names, for the API, the
// console and the scheduler alike: the lifecycle table decides, the engine
// follows (start, halt, resume, rollback, emergency stop), and the change
// records the new state, approval and editors.
func (s *Server) changeActionFn(ctx context.Context, a change.Action, args actionArgs) func(c *store.Change, actor string) (string, error) {
	return func(c *store.Change, actor string) (string, error) {
		facts, err := s.changeFacts(ctx, *c, a)
		if err != nil {
			return "", err
		}
		who := s.changeActor(ctx)
		req := change.Request{Action: a, Group: args.Group, Reason: args.Reason}
		now := s.now()
		d, err := change.Decide(facts, req, who, now)
		if err != nil {
			return "", err
		}
		extra, err := s.driveEngine(c, d, req, who, args, now)
		if err != nil {
			return "", err
		}
		facts.Apply(d, who.Name)
		c.State, c.ApprovedBy, c.ApprovedDigest, c.Editors = string(facts.State), facts.ApprovedBy, facts.ApprovedDigest, facts.Editors
		switch {
		case d.ApprovedDigest != "":
			c.ApprovedAt = &now
		case d.VoidsApproval:
			c.ApprovedAt = nil
		}
		if a == change.Edit {
			c.Title, c.Spec, c.Plan = args.Title, args.Spec, args.Plan
		}
		if d.To == change.Scheduled && d.From != change.Scheduled {
			extra += scheduleText(*c)
		}
		return d.Event + extra, nil
	}
}

// driveEngine carries a decided action into the change's rollout engine
// state; it returns what to add to the event.
func (s *Server) driveEngine(c *store.Change, d change.Decision, req change.Request, who change.Actor, args actionArgs, now time.Time) (string, error) {
	switch req.Action {
	case change.Start:
		var plan rollout.Plan
		if err := json.Unmarshal(c.Plan, &plan); err != nil {
			return "", err
		}
		st, err := rollout.New(plan)
		if err != nil {
			return "", errBadRequest(err.Error())
		}
		b, err := json.Marshal(st)
		if err != nil {
			return "", err
		}
		c.Engine = b
		return fmt.Sprintf(": %d hosts in %d waves", len(plan.Hosts), st.Summary().Waves), nil
	case change.Halt, change.Resume, change.EmergencyStop, change.RollbackHost, change.RollbackWave, change.RollbackAll:
	default:
		return "", nil
	}
	if len(c.Engine) == 0 {
		return "", nil
	}
	var st rollout.State
	if err := json.Unmarshal(c.Engine, &st); err != nil {
		return "", err
	}
	var hosts []string
	extra := ""
	switch req.Action {
	case change.RollbackHost:
		for _, h := range args.Hosts {
			if _, ok := st.Host(h); !ok {
				return "", errBadRequest(fmt.Sprintf("hosts: %q is not a host of change %s", h, c.ID))
			}
		}
		hosts = args.Hosts
		extra = fmt.Sprintf(" (hosts %v)", hosts)
	case change.RollbackWave:
		var plan rollout.Plan
		if err := json.Unmarshal(c.Plan, &plan); err != nil {
			return "", err
		}
		w := slices.Index(plan.Rings, args.Wave)
		if w < 0 {
			return "", errBadRequest(fmt.Sprintf("wave: %q is not a ring of change %s (rings: %v)", args.Wave, c.ID, plan.Rings))
		}
		ids := make([]string, len(plan.Hosts))
		for i, hp := range plan.Hosts {
			ids[i] = hp.HostID
		}
		hosts = change.RollbackHosts(&st, ids, change.RollbackWave, w, nil)
		extra = fmt.Sprintf(" (ring %s: %d hosts)", args.Wave, len(hosts))
	}
	if err := change.Drive(&st, d, req, who.Name, hosts, now); err != nil {
		return "", err
	}
	b, err := json.Marshal(&st)
	if err != nil {
		return "", err
	}
	c.Engine = b
	return extra, nil
}

// scheduleText says when a scheduled change starts.
func scheduleText(c store.Change) string {
	var spec ChangeSpec
	if json.Unmarshal(c.Spec, &spec) != nil {
		return ""
	}
	if spec.Start == StartNextWindow {
		return "; starts when its groups' next maintenance window opens"
	}
	return "; scheduled to start at " + spec.Start
}

// engineTransition moves a change as its engine's summary says, through
// the lifecycle table, and returns the event ("" when the state stays).
// An outcome the table refuses (the engine finishing a rolling-back
// change, say) leaves the state as it is.
func (s *Server) engineTransition(c *store.Change, st *rollout.State) string {
	a, reason := change.EngineEvent(change.State(c.State), st.Summary())
	if a == change.EngineProgress {
		return ""
	}
	d, err := change.Decide(change.Change{ID: c.ID, State: change.State(c.State)}, change.Request{Action: a, Reason: reason},
		change.Actor{Name: "engine", Role: change.RoleSystem}, s.now())
	if err != nil || d.To == d.From {
		return ""
	}
	c.State = string(d.To)
	return d.Event
}

// changeActionsFor lists the API action names the caller in ctx may take on
// c now, by the lifecycle table: the console's buttons.
func (s *Server) changeActionsFor(ctx context.Context, c store.Change) ([]string, error) {
	facts, err := s.changeFacts(ctx, c, change.Start)
	if err != nil {
		return nil, err
	}
	allowed := change.Allowed(facts, s.changeActor(ctx))
	var out []string
	for _, name := range []string{"submit", "approve", "reject", "start", "halt", "resume", "rollback", "cancel"} {
		if slices.Contains(allowed, apiActions[name]) {
			out = append(out, name)
		}
	}
	return out, nil
}

// lifecycleError maps a lifecycle refusal to the API's error.
func lifecycleError(err error) (*Error, bool) {
	var ce *change.Error
	if !errors.As(err, &ce) {
		return nil, false
	}
	switch {
	case errors.Is(err, change.ErrForbidden):
		return &Error{http.StatusForbidden, "forbidden", ce.Msg}, true
	case errors.Is(err, change.ErrUnknownAction):
		return &Error{http.StatusBadRequest, "bad_request", ce.Msg}, true
	}
	return &Error{http.StatusConflict, "conflict", ce.Msg}, true
}

// waitingFor says what a change waits for now: an approval, its start, a
// window (until when), soak (until when), health checks, results of jobs
// out, a resume, the release of the emergency stop, or sign-offs. engine is
// the change's engine state as stored (nil before the start); it is not
// changed.
func (s *Server) waitingFor(ctx context.Context, c store.Change, engine []byte) (string, error) {
	facts, err := s.changeFacts(ctx, c, change.SignOffOK) // with the sign-offs
	if err != nil {
		return "", err
	}
	facts.EmergencyStop = s.emergencyStopped(ctx)
	var startAt time.Time
	if facts.State == change.Scheduled {
		if startAt, err = scheduledStart(c); err != nil {
			return "", err
		}
	}
	reason := ""
	if (facts.State == change.Running || facts.State == change.RollingBack) && len(engine) > 0 {
		// What the engine would do now, on a copy that is thrown away.
		var st rollout.State
		if err := json.Unmarshal(engine, &st); err != nil {
			return "", err
		}
		jobs := 0
		for _, a := range st.Step(s.now()) {
			switch a.Kind {
			case rollout.ActDispatch, rollout.ActReboot, rollout.ActRestart, rollout.ActRollback:
				jobs++
			case rollout.ActWait:
				reason = a.Reason
			}
		}
		if sum := st.Summary(); reason == "" && sum.InFlight+sum.RollingBack > 0 {
			reason = fmt.Sprintf("results of %d hosts", sum.InFlight+sum.RollingBack)
		}
		if jobs > 0 {
			reason = strings.TrimPrefix(fmt.Sprintf("%s; the engine's next step sends %d jobs", reason, jobs), "; ")
		}
	}
	w := change.Waiting(facts, startAt, reason)
	if facts.State == change.Halted && len(engine) > 0 {
		var st rollout.State
		if err := json.Unmarshal(engine, &st); err == nil && st.Summary().Reason != "" {
			w += " (" + st.Summary().Reason + ")"
		}
	}
	return w, nil
}

// planWaves counts the rings of a plan that have hosts: empty rings are
// skipped and are not waves.
func planWaves(plan rollout.Plan) int {
	seen := map[int]bool{}
	for _, hp := range plan.Hosts {
		seen[hp.Ring] = true
	}
	return len(seen)
}

// planHostIDs resolves hosts named by ID or hostname to the IDs of a
// change's plan; a name that is neither is a clear error.
func (s *Server) planHostIDs(ctx context.Context, changeID string, names []string) ([]string, error) {
	c, err := s.store.GetChange(ctx, changeID)
	if err != nil {
		return nil, err
	}
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return nil, err
	}
	ids := make([]string, len(plan.Hosts))
	for i, hp := range plan.Hosts {
		ids[i] = hp.HostID
	}
	hostnames, err := s.store.Hostnames(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		switch {
		case slices.Contains(ids, n):
			out = append(out, n)
		default:
			found := ""
			for id, name := range hostnames {
				if name == n {
					found = id
				}
			}
			if found == "" {
				return nil, errBadRequest(fmt.Sprintf("hosts: %q is neither a host ID nor a hostname of change %s", n, changeID))
			}
			out = append(out, found)
		}
	}
	return out, nil
}
