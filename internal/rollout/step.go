package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ActionKind says what the caller must do.
type ActionKind string

const (
	ActDispatch  ActionKind = "dispatch"  // send an install job for Targets
	ActReboot    ActionKind = "reboot"    // send a reboot job
	ActRestart   ActionKind = "restart"   // send a job restarting Services
	ActRollback  ActionKind = "rollback"  // send a job restoring the versions the host recorded
	ActWait      ActionKind = "wait"      // nothing more now; call Step again at WakeAt or on an event
	ActHalted    ActionKind = "halted"    // halted for Reason; only rollbacks go out; WakeAt is the next job deadline
	ActCancelled ActionKind = "cancelled" // cancelled for Reason; WakeAt as for ActHalted
	ActCompleted ActionKind = "completed" // every wave passed
	// ActRollingBack: the whole rollout is being rolled back; only rollbacks
	// go out. WakeAt is the next job deadline.
	ActRollingBack    ActionKind = "rolling-back"
	ActRolledBack     ActionKind = "rolled-back"     // every host that installed was rolled back
	ActRollbackFailed ActionKind = "rollback-failed" // finished; Reason names the hosts whose rollback failed
)

// Action is one decision of Step.
type Action struct {
	Kind     ActionKind
	HostID   string
	Ring     int
	Phase    Phase     // the phase HostResult must name for this job
	Targets  []Target  // ActDispatch: exact versions to install
	Services []string  // ActRestart
	Deadline time.Time // jobs: a result at or after it is too late
	WakeAt   time.Time // ActWait: call Step again then; zero means only an event can help
	Reason   string
}

// Step applies the clock and returns what to do now. Jobs past their
// deadline fail; rollbacks go out; then, unless halted or cancelled, the
// current wave's hosts are dispatched within the batch limit, reboot tiers,
// windows and failure budget, and waves advance when finished, soaked and
// healthy. Calling Step again at the same time without events returns no
// job already returned.
func (s *State) Step(now time.Time) []Action {
	var acts []Action
	if s.p.Status.final() {
		return []Action{s.finalAction()}
	}
	s.expire(now)
	if !s.p.Held {
		acts = s.rollbacks(now, acts)
	}
	var wait waiter
	switch s.p.Status {
	case StatusRollingBack:
		if len(s.active) == 0 {
			s.finishRollback()
			return append(acts, s.finalAction())
		}
		wait.deadlines(s)
		return append(acts, Action{Kind: ActRollingBack, Ring: s.p.Wave, Reason: s.p.Reason, WakeAt: wait.wake})
	case StatusHalted, StatusCancelled:
		wait.deadlines(s)
		kind := ActHalted
		if s.p.Status == StatusCancelled {
			kind = ActCancelled
		}
		return append(acts, Action{Kind: kind, Ring: s.p.Wave, Reason: s.p.Reason, WakeAt: wait.wake})
	}
	for {
		w := s.p.Wave
		if s.unfinished[w] > 0 {
			acts = s.dispatch(now, acts, &wait)
		}
		if s.unfinished[w] > 0 {
			wait.because(time.Time{}, fmt.Sprintf("ring %q: %d hosts unfinished, %d in flight", s.p.Plan.Rings[w], s.unfinished[w], s.inFlight))
			break
		}
		if !s.waveReady(w, now, &wait) {
			break
		}
		s.p.Waves[w].Passed = true
		if w == len(s.p.Plan.Rings)-1 {
			s.p.Status = StatusCompleted
			return append(acts, Action{Kind: ActCompleted, Ring: w})
		}
		s.p.Wave++
		s.skipEmpty()
	}
	wait.deadlines(s)
	return append(acts, wait.action(s.p.Wave))
}

// finishRollback ends a whole-change rollback with no host left to hear
// from: rolled back, or rollback failed naming the hosts.
func (s *State) finishRollback() {
	if failed := s.Summary().RollbackFailed; len(failed) > 0 {
		s.p.Status = StatusRollbackFailed
		s.p.Reason = fmt.Sprintf("rollback failed on %d hosts: %s", len(failed), strings.Join(failed, ", "))
		return
	}
	s.p.Status = StatusRolledBack
}

// finalAction is what Step returns once the rollout has ended.
func (s *State) finalAction() Action {
	switch s.p.Status {
	case StatusRolledBack:
		return Action{Kind: ActRolledBack, Ring: s.p.Wave, Reason: s.p.Reason}
	case StatusRollbackFailed:
		return Action{Kind: ActRollbackFailed, Ring: s.p.Wave, Reason: s.p.Reason}
	}
	return Action{Kind: ActCompleted, Ring: s.p.Wave}
}

// expire fails every job whose deadline has passed.
func (s *State) expire(now time.Time) {
	for _, i := range slices.Clone(s.active) {
		h := &s.p.Hosts[i]
		if !h.Dispatched {
			continue
		}
		deadline := h.DispatchedAt.Add(s.p.Plan.JobTimeout)
		if now.Before(deadline) {
			continue
		}
		why := fmt.Sprintf("%s: no result by %s", h.Phase, deadline.Format(time.RFC3339))
		if h.Phase == PhaseRollback {
			s.settle(i, HostRollbackFailed, deadline, "rollback failed: "+why)
			continue
		}
		h.Dispatched = false
		s.fail(i, deadline, why)
	}
}

// rollbacks hands out every requested rollback. Rollbacks are repairs: they
// ignore windows, halts and cancellation.
func (s *State) rollbacks(now time.Time, acts []Action) []Action {
	for _, i := range s.active {
		h := &s.p.Hosts[i]
		if h.Status != HostRollingBack || h.Dispatched {
			continue
		}
		h.Dispatched, h.DispatchedAt = true, now
		acts = append(acts, Action{
			Kind: ActRollback, HostID: s.p.Plan.Hosts[i].HostID, Ring: s.p.Plan.Hosts[i].Ring,
			Phase: PhaseRollback, Deadline: now.Add(s.p.Plan.JobTimeout), Reason: h.Detail,
		})
	}
	return acts
}

// dispatch hands out follow-up phases of hosts in flight, then new hosts of
// the current wave while the batch limit allows.
func (s *State) dispatch(now time.Time, acts []Action, wait *waiter) []Action {
	w := s.p.Wave
	open := map[string]bool{}
	isOpen := func(group string) bool {
		o, seen := open[group]
		if !seen {
			o = s.windowOpen(group, now)
			open[group] = o
			if !o {
				wait.window(s, group, now)
			}
		}
		return o
	}
	for _, i := range s.active {
		h, hp := &s.p.Hosts[i], &s.p.Plan.Hosts[i]
		if h.Status != HostInFlight || h.Dispatched || !isOpen(hp.Group) {
			continue
		}
		if s.lowestTier(hp.Ring, hp.Group) < hp.Tier {
			// A host of a lower tier is unfinished again (its rollback,
			// asked for after this host was dispatched, is under way).
			continue
		}
		h.Dispatched, h.DispatchedAt = true, now
		a := Action{Kind: ActReboot, HostID: hp.HostID, Ring: hp.Ring, Phase: h.Phase, Deadline: now.Add(s.p.Plan.JobTimeout)}
		if h.Phase == PhaseRestart {
			a.Kind, a.Services = ActRestart, slices.Clone(hp.RestartOnly)
		}
		acts = append(acts, a)
	}
	room := s.limits[w] - s.inFlight
	if room <= 0 {
		return acts
	}
	minTier := map[string]int{}
	pend := s.pending[w]
	keep := pend[:0]
	for k, i := range pend {
		if room <= 0 {
			keep = append(keep, pend[k:]...)
			break
		}
		hp := &s.p.Plan.Hosts[i]
		t, seen := minTier[hp.Group]
		if !seen {
			t = s.lowestTier(w, hp.Group)
			minTier[hp.Group] = t
		}
		if hp.Tier != t || !isOpen(hp.Group) {
			keep = append(keep, i)
			continue
		}
		acts = append(acts, s.start(i, now))
		room--
	}
	s.pending[w] = keep
	return acts
}

// start dispatches host i's install with the pinned versions, pinning any
// package not pinned yet.
func (s *State) start(i int, now time.Time) Action {
	h, hp := &s.p.Hosts[i], &s.p.Plan.Hosts[i]
	for j, t := range h.Targets {
		k := pinKey(hp.Platform, t)
		if v, ok := s.p.Pins[k]; ok {
			h.Targets[j].Version = v
		} else {
			s.p.Pins[k] = t.Version
		}
	}
	s.setStatus(i, HostInFlight)
	h.Phase, h.Dispatched, h.DispatchedAt = PhaseInstall, true, now
	return Action{
		Kind: ActDispatch, HostID: hp.HostID, Ring: hp.Ring, Phase: PhaseInstall,
		Targets: slices.Clone(h.Targets), Deadline: now.Add(s.p.Plan.JobTimeout),
	}
}

// lowestTier is the lowest reboot tier of group in wave w that still has
// unfinished hosts; only that tier may be dispatched.
func (s *State) lowestTier(w int, group string) int {
	for _, t := range s.groupTiers[groupKey{w, group}] {
		if s.tierLeft[tierKey{w, group, t}] > 0 {
			return t
		}
	}
	return -1
}

// windowOpen reports whether a job dispatched now to group would end inside
// one of its windows: Start <= now and now+JobTimeout <= End.
func (s *State) windowOpen(group string, now time.Time) bool {
	end := now.Add(s.p.Plan.JobTimeout)
	for _, win := range s.p.Plan.Windows[group] {
		if !now.Before(win.Start) && !end.After(win.End) {
			return true
		}
	}
	return false
}

// waveReady reports whether finished wave w has soaked and passed its
// health checks.
func (s *State) waveReady(w int, now time.Time, wait *waiter) bool {
	ws := &s.p.Waves[w]
	if ws.FinishedAt.IsZero() { // an empty ring: nothing to soak or check
		return true
	}
	ready := true
	if soaked := ws.FinishedAt.Add(s.p.Plan.Soak); now.Before(soaked) {
		wait.because(soaked, fmt.Sprintf("ring %q soaking until %s", s.p.Plan.Rings[w], soaked.Format(time.RFC3339)))
		ready = false
	}
	var missing []string
	for _, c := range s.p.Plan.HealthChecks {
		if rec, ok := s.p.Health[w][c]; !ok || !rec.OK || rec.At.Before(ws.FinishedAt) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		wait.because(time.Time{}, fmt.Sprintf("ring %q waiting for health checks %s", s.p.Plan.Rings[w], strings.Join(missing, ", ")))
		ready = false
	}
	return ready
}

// waiter collects why Step stopped and the earliest time it could do more.
type waiter struct {
	wake    time.Time
	reasons []string
}

func (w *waiter) because(at time.Time, reason string) {
	w.reasons = append(w.reasons, reason)
	w.at(at)
}

func (w *waiter) at(t time.Time) {
	if !t.IsZero() && (w.wake.IsZero() || t.Before(w.wake)) {
		w.wake = t
	}
}

func (w *waiter) deadlines(s *State) {
	for _, i := range s.active {
		if h := &s.p.Hosts[i]; h.Dispatched {
			w.at(h.DispatchedAt.Add(s.p.Plan.JobTimeout))
		}
	}
}

// window notes when group's next usable window opens.
func (w *waiter) window(s *State, group string, now time.Time) {
	var next time.Time
	for _, win := range s.p.Plan.Windows[group] {
		if win.Start.After(now) && !win.Start.Add(s.p.Plan.JobTimeout).After(win.End) &&
			(next.IsZero() || win.Start.Before(next)) {
			next = win.Start
		}
	}
	if next.IsZero() {
		w.because(next, fmt.Sprintf("group %q has no usable window; add one", group))
		return
	}
	w.because(next, fmt.Sprintf("group %q window opens %s", group, next.Format(time.RFC3339)))
}

func (w *waiter) action(ring int) Action {
	return Action{Kind: ActWait, Ring: ring, WakeAt: w.wake, Reason: strings.Join(w.reasons, "; ")}
}
