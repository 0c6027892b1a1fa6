package server

import (
	"cmp"
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
	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// Change states, as stored: the lifecycle's (internal/change).
const (
	ChangeDraft           = string(change.Draft)
	ChangePendingApproval = string(change.PendingApproval)
	ChangeApproved        = string(change.Approved)
	ChangeRejected        = string(change.Rejected)
	ChangeRunning         = string(change.Running)
	ChangeHalted          = string(change.Halted)
	ChangeAwaitingSignOff = string(change.AwaitingSignOff) // every host verified; the groups' stakeholders are asked to sign off
	ChangeCompleted       = string(change.Completed)       // every group signed off ok
	ChangeCancelled       = string(change.Cancelled)
	// ChangeScheduled is an approved change with a start time (or "the
	// next window"): the engine loop starts it then.
	ChangeScheduled = string(change.Scheduled)
)

// StartNextWindow, as ChangeSpec.Start, starts an approved change when the
// first of its groups' planned maintenance windows opens.
const StartNextWindow = "next-window"

// ChangeSpec is what an operator asks for.
type ChangeSpec struct {
	Title      string          `json:"title"`
	Groups     []string        `json:"groups"`
	Packages   []PackageTarget `json:"packages,omitempty"`   // explicit name@version
	Advisories []string        `json:"advisories,omitempty"` // fix these advisories' open findings
	// Rollout parameters.
	BatchSize      int      `json:"batch_size,omitempty"`
	BatchPercent   int      `json:"batch_percent,omitempty"`
	FailureBudget  int      `json:"failure_budget,omitempty"`
	FailurePercent int      `json:"failure_percent,omitempty"`
	Soak           string   `json:"soak,omitempty"`        // duration
	JobTimeout     string   `json:"job_timeout,omitempty"` // duration, default 30m
	HealthChecks   []string `json:"health_checks,omitempty"`
	AutoRollback   bool     `json:"auto_rollback,omitempty"`
	// IgnoreWindows runs outside maintenance windows (for an emergency);
	// it is shown to the approver.
	IgnoreWindows bool `json:"ignore_windows,omitempty"`
	// Start schedules the change once approved: "" is started by hand,
	// "next-window" when its groups' first planned window opens, an
	// RFC 3339 time then (inside a window of every target group, unless
	// windows are ignored).
	Start string `json:"start,omitempty"`
	// Reboot is "" or "if-required" (each group's own reboot policy) or
	// "restart-services": in groups that reboot if required, a host whose
	// facts say only services need a restart gets those restarted instead
	// of nothing. Groups that reboot always or never keep their policy.
	Reboot string `json:"reboot,omitempty"`
	// AllowDowngrade plans versions lower than the installed ones, and
	// ForceNotOffered versions the hosts' repositories do not offer; see
	// plan.go.
	AllowDowngrade  bool `json:"allow_downgrade,omitempty"`
	ForceNotOffered bool `json:"force_not_offered,omitempty"`
	// AgentRelease, instead of packages or advisories, rolls out this
	// uploaded agent release (a version such as v1.4.0) as agent_update
	// jobs; see releases.go.
	AgentRelease string `json:"agent_release,omitempty"`
}

// PackageTarget is an explicit package version.
type PackageTarget struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ChangeView is a change as the API shows it.
type ChangeView struct {
	ID         string       `json:"id"`
	Title      string       `json:"title"`
	State      string       `json:"state"`
	Author     string       `json:"author"`
	ApprovedBy string       `json:"approved_by,omitempty"`
	ApprovedAt *time.Time   `json:"approved_at,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	Spec       ChangeSpec   `json:"spec"`
	Plan       rollout.Plan `json:"plan"`
	// Review is every host of the target groups the plan considered:
	// planned, or why not (excluded, not offered, downgrade refused).
	Review  []PlanHost         `json:"review,omitempty"`
	Summary *api.ChangeSummary `json:"summary,omitempty"`
	Hosts   []api.ChangeHost   `json:"hosts,omitempty"`
	History []api.ChangeEvent  `json:"history,omitempty"`
	// KnownProblems are knowledge-base entries about the packages this
	// change touches.
	KnownProblems []KBView `json:"known_problems,omitempty"`
	// Waiting says what the change waits for now (shown in detail only).
	Waiting string `json:"waiting,omitempty"`
	// Waves counts the plan's rings that have hosts (empty rings are not
	// waves); Wave is the current one, 1-based, once started.
	Waves int `json:"waves"`
	Wave  int `json:"wave,omitempty"`
	// JobsOut are jobs hosts received and have not reported yet (after a
	// halt or emergency stop they still run to their end).
	JobsOut []JobOut `json:"jobs_out,omitempty"`
}

func (s *Server) changeView(ctx context.Context, c store.Change, detail bool) (ChangeView, error) {
	v := ChangeView{ID: c.ID, Title: c.Title, State: c.State, Author: c.Author, ApprovedBy: c.ApprovedBy, ApprovedAt: c.ApprovedAt, CreatedAt: c.CreatedAt}
	if err := json.Unmarshal(c.Spec, &v.Spec); err != nil {
		return v, err
	}
	if err := json.Unmarshal(c.Plan, &v.Plan); err != nil {
		return v, err
	}
	v.Review = planReview(c.Plan)
	kp, err := s.knownProblems(ctx, v.Plan)
	if err != nil {
		return v, err
	}
	v.KnownProblems = kp
	if len(c.Engine) > 0 {
		var st rollout.State
		if err := json.Unmarshal(c.Engine, &st); err != nil {
			return v, err
		}
		sum := st.Summary()
		v.Summary = changeSummaryView(sum)
		v.Wave = sum.WaveNumber
		if detail || c.State == ChangeHalted || c.State == ChangeRollingBack {
			if v.JobsOut, err = s.jobsOut(ctx, c.ID); err != nil {
				return v, err
			}
		}
		if detail {
			ids := make([]string, len(v.Plan.Hosts))
			for i, hp := range v.Plan.Hosts {
				ids[i] = hp.HostID
			}
			names, err := s.store.Hostnames(ctx, ids)
			if err != nil {
				return v, err
			}
			for _, hp := range v.Plan.Hosts {
				if h, ok := st.Host(hp.HostID); ok {
					v.Hosts = append(v.Hosts, changeHostView(h, names[hp.HostID]))
				}
			}
		}
	}
	v.Waves = planWaves(v.Plan)
	if detail {
		h, err := s.store.ChangeHistory(ctx, c.ID)
		if err != nil {
			return v, err
		}
		v.History = changeEventsView(h)
		if v.Waiting, err = s.waitingFor(ctx, c, c.Engine); err != nil {
			return v, err
		}
	}
	return v, nil
}

func parseDur(field, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errBadRequest(fmt.Sprintf("%s: %q is not a duration such as 30m", field, v))
	}
	return d, nil
}

// checkStart refuses a start time that cannot be kept: not a time, in the
// past, or outside the maintenance windows of one of the plan's groups.
func (s *Server) checkStart(spec ChangeSpec, plan rollout.Plan) error {
	if spec.Start == "" || spec.Start == StartNextWindow {
		return nil
	}
	t, err := time.Parse(time.RFC3339, spec.Start)
	if err != nil {
		return errBadRequest(fmt.Sprintf(`start: %q is neither "next-window" nor a time such as 2026-12-08T22:30:00Z`, spec.Start))
	}
	if !t.After(s.now()) {
		return errBadRequest(fmt.Sprintf("start: %s is not in the future", t.UTC().Format(time.RFC3339)))
	}
	if spec.IgnoreWindows {
		return nil
	}
	seen := map[string]bool{}
	for _, hp := range plan.Hosts {
		if seen[hp.Group] {
			continue
		}
		seen[hp.Group] = true
		ws := plan.Windows[hp.Group]
		if !slices.ContainsFunc(ws, func(w rollout.Window) bool { return !t.Before(w.Start) && t.Before(w.End) }) {
			next := "it has no window in the planning horizon"
			if len(ws) > 0 {
				next = "its next window opens " + ws[0].Start.UTC().Format(time.RFC3339)
			}
			return errBadRequest(fmt.Sprintf("start: %s is outside every maintenance window of group %s (%s)",
				t.UTC().Format(time.RFC3339), hp.Group, next))
		}
	}
	return nil
}

// scheduledStart is when a scheduled change starts: its explicit time, or
// the first of its groups' planned windows (at once when windows are
// ignored or none is planned: the engine then waits for windows itself).
func scheduledStart(c store.Change) (time.Time, error) {
	var spec ChangeSpec
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return time.Time{}, err
	}
	if spec.Start != StartNextWindow {
		return time.Parse(time.RFC3339, spec.Start)
	}
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return time.Time{}, err
	}
	var first time.Time
	if !spec.IgnoreWindows {
		for _, ws := range plan.Windows {
			if len(ws) > 0 && (first.IsZero() || ws[0].Start.Before(first)) {
				first = ws[0].Start
			}
		}
	}
	return first, nil
}

// startDue starts the scheduled changes whose time has come, as the
// scheduler; nothing starts while the emergency stop is in force.
func (s *Server) startDue(ctx context.Context) {
	cs, err := s.store.ListChanges(ctx, ChangeScheduled)
	if err != nil || len(cs) == 0 || s.emergencyStopped(ctx) {
		return
	}
	sctx := context.WithValue(ctx, principalKey{}, Principal{TokenID: "scheduler"})
	fn := s.changeActionFn(sctx, change.Start, actionArgs{})
	for _, c := range cs {
		at, err := scheduledStart(c)
		if err != nil {
			s.log.Error("scheduler: start time", "change", c.ID, "err", err)
			continue
		}
		if s.now().Before(at) {
			continue
		}
		if _, err := s.transition(sctx, c.ID, fn); err != nil && ctx.Err() == nil {
			s.log.Error("scheduler: start", "change", c.ID, "err", err)
		}
	}
}

// hostRebootPolicy is the reboot policy of a host in a group with policy
// group under a change asking for change: the group's, except that
// restart-services replaces if-required. A change never makes a group
// reboot more, or less, than its stakeholders set.
func hostRebootPolicy(group, change string) rollout.RebootPolicy {
	p := rollout.RebootPolicy(cmp.Or(group, policy.RebootIfRequired))
	if p == rollout.RebootIfRequired && rollout.RebootPolicy(change) == rollout.RebootRestartServices {
		return rollout.RebootRestartServices
	}
	return p
}

func (s *Server) handleCreateChange(w http.ResponseWriter, r *http.Request) error {
	var spec ChangeSpec
	if err := decodeJSON(w, r, 1<<20, &spec); err != nil {
		return err
	}
	c, err := s.createChange(r.Context(), principalName(r.Context(), s), spec)
	if err != nil {
		return err
	}
	v, err := s.changeView(r.Context(), c, false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func protocolValidPackage(name, version string) bool {
	j := protocol.Job{ID: "x", HostID: "x", Seq: 1, NotBefore: time.Unix(0, 0), Expires: time.Unix(1, 0), Action: protocol.ActionInstall,
		Packages: []protocol.JobPackage{{Name: name, Version: version}}}
	return j.Validate() == nil
}

func (s *Server) handleListChanges(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.store.ListChanges(r.Context())
	if err != nil {
		return err
	}
	out := make([]ChangeView, 0, len(cs))
	for _, c := range cs {
		v, err := s.changeView(r.Context(), c, false)
		if err != nil {
			return err
		}
		v.Plan.Hosts, v.Review = nil, nil
		out = append(out, v)
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

func (s *Server) handleGetChange(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.GetChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.changeView(r.Context(), c, true)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

// transition changes a change's state under optimistic concurrency; with
// adds what else the same transaction writes (a sign-off).
func (s *Server) transition(ctx context.Context, id string, fn func(c *store.Change, actor string) (string, error), with ...func(*store.ChangeUpdate)) (store.Change, error) {
	actor := principalName(ctx, s)
	for range 5 {
		c, err := s.store.GetChange(ctx, id)
		if err != nil {
			return c, err
		}
		before := map[string]string{"state": c.State, "approved_by": c.ApprovedBy}
		detail, err := fn(&c, actor)
		if err != nil {
			return c, err
		}
		now := s.now()
		auditTransition(ctx, c, before, actor, detail) // appended by UpdateChange's transaction
		u := store.ChangeUpdate{Change: c, Event: &store.ChangeEvent{At: now, Actor: actor, Kind: c.State, Detail: detail},
			WithdrawJobs: withdrawsJobs(before["state"], c.State)}
		for _, w := range with {
			w(&u)
		}
		// The change's notifications commit with it (store.WithOutbox).
		octx := s.notifying(ctx, s.changeEvents(c, before["state"], actor, detail, now)...)
		_, err = s.store.UpdateChange(octx, c.Revision, u, now)
		if errors.Is(err, store.ErrRevisionMismatch) {
			continue
		}
		s.log.Info("change", "id", id, "state", c.State, "by", actor, "detail", detail)
		return c, err
	}
	return store.Change{}, &Error{http.StatusConflict, "conflict", "the change kept changing; try again"}
}

func (s *Server) changeAction(w http.ResponseWriter, r *http.Request, fn func(c *store.Change, actor string) (string, error)) error {
	c, err := s.transition(r.Context(), r.PathValue("id"), fn)
	if err != nil {
		return err
	}
	v, err := s.changeView(r.Context(), c, false)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

func (s *Server) handleChangeAction(action string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var args actionArgs
		a := apiActions[action]
		if r.ContentLength != 0 {
			var req struct {
				Hosts  []string `json:"hosts"`
				Wave   string   `json:"wave"`
				Reason string   `json:"reason"`
			}
			if err := decodeJSON(w, r, 1<<20, &req); err != nil {
				return err
			}
			args.Reason = req.Reason
			if action == "rollback" {
				switch {
				case len(req.Hosts) > 0 && req.Wave != "":
					return errBadRequest("hosts, wave: name hosts or a wave, not both")
				case len(req.Hosts) > 0:
					ids, err := s.planHostIDs(r.Context(), r.PathValue("id"), req.Hosts)
					if err != nil {
						return err
					}
					a, args.Hosts = change.RollbackHost, ids
				case req.Wave != "":
					a, args.Wave = change.RollbackWave, req.Wave
				}
			}
		}
		return s.changeAction(w, r, s.changeActionFn(r.Context(), a, args))
	}
}

// engineLoop steps every running, halted or rolling-back change.
func (s *Server) engineLoop(ctx context.Context) {
	cache := engineCache{}
	ticker(ctx, s.cfg.EngineInterval, func() {
		s.startDue(ctx)
		cs, err := s.store.ListChanges(ctx, stepStates...)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("engine: list changes", "err", err)
			}
			return
		}
		if s.emergencyStopped(ctx) {
			return // nothing is dispatched while the emergency stop is in force
		}
		cache.keep(cs)
		for _, c := range cs {
			if err := s.step(ctx, c, cache); err != nil && !errors.Is(err, store.ErrRevisionMismatch) && ctx.Err() == nil {
				s.log.Error("engine: step", "change", c.ID, "err", err)
			}
		}
	})
}

// engineCache holds the decoded engine state of each change the engine
// loop steps, with the revision it was stored at, so that a step decodes
// megabytes of JSON (at ten thousand hosts) only when someone else wrote
// the change. It belongs to the engine loop's goroutine.
type engineCache map[string]cachedEngine

type cachedEngine struct {
	rev int64
	st  *rollout.State
}

// load returns c's engine state: the cached one when c is still at the
// revision it was cached at, else decoded from c. The caller owns the
// state it gets until it puts it back.
func (ec engineCache) load(c store.Change) (*rollout.State, error) {
	if e, ok := ec[c.ID]; ok && e.rev == c.Revision {
		delete(ec, c.ID)
		return e.st, nil
	}
	delete(ec, c.ID)
	st := new(rollout.State)
	if err := json.Unmarshal(c.Engine, st); err != nil {
		return nil, err
	}
	return st, nil
}

// keep forgets the changes no longer stepped.
func (ec engineCache) keep(cs []store.Change) {
	for id := range ec {
		if !slices.ContainsFunc(cs, func(c store.Change) bool { return c.ID == id }) {
			delete(ec, id)
		}
	}
}

// stepChange runs the engine once and stores its new state with the jobs
// it decided, in one transaction.
func (s *Server) stepChange(ctx context.Context, c store.Change) error {
	return s.step(ctx, c, nil)
}

// step is stepChange with the engine loop's cache (nil: none). The state
// goes back into the cache only once stored, so a failed write leaves
// nothing stale behind.
func (s *Server) step(ctx context.Context, c store.Change, cache engineCache) error {
	st, err := cache.load(c)
	if err != nil {
		return err
	}
	now := s.now()
	prevState := c.State
	// Results are stored with their jobs (FinishJob) when agents report
	// them, and applied here, at the time each arrived, in the same write
	// as the jobs they release: one write of the engine state per step,
	// not per result. A job handed out has its result among the jobs
	// created since the oldest job out, and a result is applied only to
	// the host and phase still waiting for it, so a result survives any
	// crash and is applied once.
	applied, withdrawn, failed := 0, 0, []string{}
	if since, ok := st.OutstandingSince(); ok {
		jobs, err := s.store.FinishedChangeJobs(ctx, c.ID, since)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			hv, ok := st.Host(j.HostID)
			if !ok || !hv.Dispatched || string(hv.Phase) != j.Phase {
				continue
			}
			if j.Status == "withdrawn" {
				// A halt took it back before the host got it: the engine
				// decides again when the change goes on.
				if err := st.Withdraw(j.HostID, hv.Phase); err == nil {
					withdrawn++
				}
				continue
			}
			if j.FinishedAt == nil {
				continue
			}
			var res protocol.JobResult
			if err := json.Unmarshal(j.Result, &res); err != nil {
				continue
			}
			if err := st.HostResult(*j.FinishedAt, j.HostID, hv.Phase, res.OK, res.Installed, res.Detail); err != nil {
				s.log.Warn("job result not applied", "change", c.ID, "host", j.HostID, "err", err)
				continue
			}
			applied++
			if after, _ := st.Host(j.HostID); after.Failed && len(failed) < 20 {
				failed = append(failed, fmt.Sprintf("%s of %s: %s", j.Phase, j.HostID, after.Detail))
			}
		}
	}
	jobs, events, err := s.decide(ctx, &c, st, now)
	if err != nil {
		return err
	}
	if applied > 0 {
		ev := fmt.Sprintf("%d results applied", applied)
		if len(failed) > 0 {
			ev += " (failed: " + strings.Join(failed, "; ") + ")"
		}
		events = append([]string{ev}, events...)
	}
	if ev := s.engineTransition(&c, st); ev != "" {
		events = append(events, ev)
	}
	if withdrawn > 0 {
		events = append([]string{fmt.Sprintf("%d withdrawn jobs taken back", withdrawn)}, events...)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if len(jobs) == 0 && len(events) == 0 && string(b) == string(c.Engine) {
		// Nothing decided and nothing changed, not even by the clock
		// (expired jobs): nothing to store.
		if cache != nil {
			cache[c.ID] = cachedEngine{c.Revision, st}
		}
		return nil
	}
	c.Engine = b
	var ev *store.ChangeEvent
	if len(events) > 0 {
		ev = &store.ChangeEvent{At: now, Actor: "engine", Kind: "step", Detail: strings.Join(events, "; ")}
	}
	// The step's audit entries commit with the step (store.WithAudit).
	actx := store.WithAudit(ctx, store.NewPendingAudit(engineAuditEntries(c, prevState, ev, jobs, now)...))
	actx = s.notifying(actx, s.changeEvents(c, prevState, "engine", strings.Join(events, "; "), now)...)
	rev, err := s.store.UpdateChange(actx, c.Revision, store.ChangeUpdate{Change: c, Event: ev, Jobs: jobs,
		WithdrawJobs: withdrawsJobs(prevState, c.State)}, now)
	if err != nil {
		return err
	}
	if cache != nil {
		cache[c.ID] = cachedEngine{rev, st}
	}
	return nil
}

func hostTargets(plan rollout.Plan, hostID string) []rollout.Target {
	for _, hp := range plan.Hosts {
		if hp.HostID == hostID {
			return hp.Targets
		}
	}
	return nil
}

// previousVersions are the versions a host's install job replaced, as the
// agent recorded them before installing.
func (s *Server) previousVersions(ctx context.Context, changeID, hostID string) (map[string]string, error) {
	jobs, err := s.store.ChangeJobs(ctx, changeID)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.HostID == hostID && j.Phase == string(rollout.PhaseInstall) && len(j.Result) > 0 {
			var res protocol.JobResult
			if err := json.Unmarshal(j.Result, &res); err != nil {
				return nil, err
			}
			return res.Previous, nil
		}
	}
	return nil, nil
}

// handleJobResult takes an agent's result for one of its jobs: recorded
// once, fed to the change's engine, and the host's findings reconciled.
func (s *Server) handleJobResult(w http.ResponseWriter, r *http.Request) error {
	h := hostFrom(r.Context())
	var res protocol.JobResult
	if err := decodeJSON(w, r, 4<<20, &res); err != nil {
		return err
	}
	if err := res.Validate(); err != nil {
		return err
	}
	if res.NotRun {
		return s.reissueJob(w, r, h.ID, h.Hostname, res)
	}
	b, _ := json.Marshal(res)
	now := s.now()
	// The result's audit entry commits with it.
	actx := store.WithAudit(r.Context(), store.NewPendingAudit(auditEntryForResult(h.Hostname, res, now)))
	_, err := s.store.FinishJob(actx, h.ID, res.JobID, b, now)
	if errors.Is(err, store.ErrConflict) {
		return &Error{http.StatusConflict, "conflict", "this job's result was recorded already"}
	}
	if err != nil {
		return err
	}
	// The engine applies the stored result at its next step (stepChange),
	// with every other result that arrived since, in one write.
	s.vulns.enqueue(h.ID)
	return writeJSON(w, 200, map[string]string{"status": "recorded"})
}

// jobCause maps a package to the change whose install job on the host
// (in the last week, finished ok) touched it, for findings' resolutions.
func (s *Server) jobCause(ctx context.Context, hostID string, now time.Time) func(string) string {
	jobs, err := s.store.HostJobsSince(ctx, hostID, now.AddDate(0, 0, -7))
	if err != nil || len(jobs) == 0 {
		return nil
	}
	by := map[string]string{}
	for _, j := range jobs {
		var env protocol.Envelope
		if json.Unmarshal(j.Envelope, &env) != nil {
			continue
		}
		var job protocol.Job
		if json.Unmarshal(env.Payload, &job) != nil || job.Action != protocol.ActionInstall {
			continue
		}
		var res protocol.JobResult
		if json.Unmarshal(j.Result, &res) != nil || !res.OK {
			continue
		}
		for _, p := range job.Packages {
			by[p.Name] = "change " + j.ChangeID
		}
	}
	return func(pkg string) string { return by[pkg] }
}

// autoApproval says whether the policy of every group a change targets
// approves it by one of its auto-approval rules, and names the rule. The
// change's facts: the highest severity of the findings it fixes, whether
// it fixes only advisories (security only), the days since its newest
// advisory was published, and each group's ring.
func (s *Server) autoApproval(ctx context.Context, c *store.Change) (string, bool) {
	var spec ChangeSpec
	var plan rollout.Plan
	if json.Unmarshal(c.Spec, &spec) != nil || json.Unmarshal(c.Plan, &plan) != nil || len(spec.Advisories) == 0 || spec.IgnoreWindows {
		return "", false
	}
	facts := policy.ChangeFacts{SecurityOnly: len(spec.Packages) == 0, AgeDays: 1 << 30}
	for _, id := range spec.Advisories {
		a, err := s.store.GetAdvisory(ctx, id)
		if err != nil {
			return "", false
		}
		fs, _, err := s.store.ListFindings(ctx, store.FindingFilter{AdvisoryID: id, Limit: 1})
		if err == nil && len(fs) > 0 && severityRank(fs[0].Severity) > severityRank(facts.Severity) {
			facts.Severity = fs[0].Severity
		}
		if days := int(s.now().Sub(a.Published).Hours() / 24); days < facts.AgeDays {
			facts.AgeDays = days
		}
	}
	_, org := s.org.get()
	groups := map[string]bool{}
	for _, hp := range plan.Hosts {
		groups[hp.Group] = true
	}
	rule := ""
	for name := range groups {
		g, err := s.findGroup(org, name)
		if err != nil {
			return "", false
		}
		p, ok := org.GroupPolicy(name)
		if !ok {
			return "", false
		}
		f := facts
		f.Ring = g.Ring
		r, ok := p.AutoApprove(f, org.Rings)
		if !ok {
			return "", false
		}
		rule = r
	}
	return rule, rule != ""
}

func severityRank(s string) int {
	return map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}[s]
}

// handleEditChange replaces a change's spec and plan before it starts. An
// edit by anyone voids an approval (the change goes back to pending
// approval) and makes its editor unable to approve it.
func (s *Server) handleEditChange(w http.ResponseWriter, r *http.Request) error {
	var spec ChangeSpec
	if err := decodeJSON(w, r, 1<<20, &spec); err != nil {
		return err
	}
	if strings.TrimSpace(spec.Title) == "" {
		return errBadRequest("title is required")
	}
	for _, p := range spec.Packages {
		if !protocolValidPackage(p.Name, p.Version) {
			return errBadRequest(fmt.Sprintf("packages: %q@%q is not a valid package name and version", p.Name, p.Version))
		}
	}
	plan, err := s.buildPlan(r.Context(), spec)
	if err != nil {
		return err
	}
	if _, err := rollout.New(plan.Plan); err != nil {
		return err
	}
	specJSON, _ := json.Marshal(spec)
	planJSON := plan.json()
	return s.changeAction(w, r, s.changeActionFn(r.Context(), change.Edit, actionArgs{Title: spec.Title, Spec: specJSON, Plan: planJSON}))
}

// createChange validates a spec, plans it and stores the draft; the API
// and the console call it.
func (s *Server) createChange(ctx context.Context, author string, spec ChangeSpec) (store.Change, error) {
	if s.storeIsShared() {
		// Plan with the organisation just applied, on whichever replica.
		if err := s.followOrg(ctx); err != nil {
			return store.Change{}, err
		}
	}
	if strings.TrimSpace(spec.Title) == "" {
		return store.Change{}, errBadRequest("title is required")
	}
	for _, p := range spec.Packages {
		if !protocolValidPackage(p.Name, p.Version) {
			return store.Change{}, errBadRequest(fmt.Sprintf("packages: %q@%q is not a valid package name and version", p.Name, p.Version))
		}
	}
	plan, err := s.buildPlan(ctx, spec)
	if err != nil {
		return store.Change{}, err
	}
	if _, err := rollout.New(plan.Plan); err != nil {
		return store.Change{}, err
	}
	specJSON, _ := json.Marshal(spec)
	planJSON := plan.json()
	c := store.Change{ID: uuid.NewString(), Title: spec.Title, State: ChangeDraft, Author: author, Spec: specJSON, Plan: planJSON, CreatedAt: s.now()}
	auditSummary(ctx, "change %s %q drafted by %s", c.ID, c.Title, author)
	if err := s.store.CreateChange(ctx, c, c.Author); err != nil {
		return store.Change{}, err
	}
	return c, nil
}
