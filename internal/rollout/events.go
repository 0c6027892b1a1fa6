package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// HostResult records the outcome of a host's job for phase. installed maps
// a package name (or "name:arch") to the version the host now has; an ok
// install result is verified against the pinned targets and a mismatch
// fails the host. A result for an unknown host, for a job that is not in
// flight (never dispatched, already reported, or another phase), or one
// arriving at or after the job's deadline is refused with an error and
// changes nothing; the next Step counts a late job as failed.
func (s *State) HostResult(now time.Time, hostID string, phase Phase, ok bool, installed map[string]string, detail string) error {
	i, known := s.index[hostID]
	if !known {
		return fmt.Errorf("result for host %q: %w", hostID, ErrUnknownHost)
	}
	h := &s.p.Hosts[i]
	if !h.Dispatched || h.Phase != phase {
		return fmt.Errorf("%s result for host %q (%s): %w", phase, hostID, h.Status, ErrNotInFlight)
	}
	if deadline := h.DispatchedAt.Add(s.p.Plan.JobTimeout); !now.Before(deadline) {
		return fmt.Errorf("%s result for host %q at %s, deadline %s: %w", phase, hostID,
			now.Format(time.RFC3339), deadline.Format(time.RFC3339), ErrLate)
	}
	if phase == PhaseRollback {
		if ok {
			s.settle(i, HostRolledBack, now, detail)
		} else {
			s.settle(i, HostRollbackFailed, now, "rollback failed: "+detail)
		}
		return nil
	}
	if ok && (phase == PhaseInstall || installed != nil) {
		if problem := verify(h.Targets, installed); problem != "" {
			ok, detail = false, problem
		}
	}
	if !ok {
		s.fail(i, now, fmt.Sprintf("%s failed: %s", phase, detail))
		return nil
	}
	if s.p.Status == StatusRollingBack {
		// The install went through after the whole rollout was rolled
		// back: undo it now rather than go on to a reboot or restart.
		s.startRollback(i, s.p.Reason)
		return nil
	}
	h.Detail = detail
	next := s.nextPhase(i, phase)
	if next == "" {
		s.settle(i, HostSucceeded, now, "")
		return nil
	}
	h.Phase, h.Dispatched, h.DispatchedAt = next, false, time.Time{}
	return nil
}

// nextPhase is the phase after done for host i, or "" when the host is
// finished. Services are restarted instead of a reboot only when the plan
// does not ask for a reboot.
func (s *State) nextPhase(i int, done Phase) Phase {
	hp := &s.p.Plan.Hosts[i]
	if done != PhaseInstall {
		return ""
	}
	switch {
	case hp.NeedsReboot:
		return PhaseReboot
	case len(hp.RestartOnly) > 0:
		return PhaseRestart
	}
	return ""
}

// verify reports the first target the installed versions do not match.
func verify(targets []Target, installed map[string]string) string {
	if installed == nil {
		return "verify: no installed versions reported"
	}
	for _, t := range targets {
		got, ok := installed[t.Name+":"+t.Arch]
		if !ok {
			got, ok = installed[t.Name]
		}
		switch {
		case !ok:
			return fmt.Sprintf("verify %s: not installed, want %s", t.Name, t.Version)
		case got != t.Version:
			return fmt.Sprintf("verify %s: installed %s, want %s", t.Name, got, t.Version)
		}
	}
	return ""
}

// fail counts host i against the budget and, with AutoRollback, asks for
// its rollback; a budget overrun halts the rollout at once.
func (s *State) fail(i int, now time.Time, detail string) {
	h := &s.p.Hosts[i]
	if !h.Failed {
		h.Failed = true
		s.failed++
	}
	if s.p.Plan.AutoRollback || s.p.Status == StatusRollingBack {
		s.setStatus(i, HostRollingBack)
		h.Phase, h.Dispatched, h.DispatchedAt, h.Detail = PhaseRollback, false, time.Time{}, detail
	} else {
		s.settle(i, HostFailed, now, detail)
	}
	s.checkBudget()
}

func (s *State) checkBudget() {
	if s.failed > s.budget && s.p.Status == StatusRunning {
		s.p.Status = StatusHalted
		s.p.Reason = fmt.Sprintf("failure budget exceeded: %d hosts failed, budget %d", s.failed, s.budget)
	}
}

// HealthResult records a named health check's outcome for a wave. Only an
// ok reported at or after the wave finished counts toward starting the next
// wave. A failure halts the rollout and, with AutoRollback, rolls back every
// host of that wave that succeeded. A result older than the one recorded is
// ignored.
func (s *State) HealthResult(now time.Time, ring int, check string, ok bool) error {
	if ring < 0 || ring >= len(s.p.Plan.Rings) {
		return fmt.Errorf("health check %q for ring %d: %w", check, ring, ErrWaveNotStarted)
	}
	if !slices.Contains(s.p.Plan.HealthChecks, check) {
		return fmt.Errorf("health check %q: %w", check, ErrUnknownCheck)
	}
	if ring > s.p.Wave {
		return fmt.Errorf("health check %q for ring %q: %w", check, s.p.Plan.Rings[ring], ErrWaveNotStarted)
	}
	if s.p.Status.final() || s.p.Status == StatusCancelled || s.p.Status == StatusRollingBack {
		return fmt.Errorf("health check %q: %w", check, ErrFinished)
	}
	if rec, seen := s.p.Health[ring][check]; seen && now.Before(rec.At) {
		return nil
	}
	s.p.Health[ring][check] = healthRecord{OK: ok, At: now}
	if ok {
		return nil
	}
	s.p.Status = StatusHalted
	s.p.Reason = fmt.Sprintf("health check %q failed for ring %q", check, s.p.Plan.Rings[ring])
	if s.p.Plan.AutoRollback {
		for i, hp := range s.p.Plan.Hosts {
			if hp.Ring == ring && s.p.Hosts[i].Status == HostSucceeded {
				s.startRollback(i, s.p.Reason)
			}
		}
	}
	return nil
}

func (s *State) startRollback(i int, why string) {
	h := &s.p.Hosts[i]
	s.setStatus(i, HostRollingBack)
	h.Phase, h.Dispatched, h.DispatchedAt, h.Detail = PhaseRollback, false, time.Time{}, why
}

// RollBack asks for the rollback of the given hosts (a host or wave
// rollback), each of which must have finished its install (succeeded or
// failed). It is all or nothing. It also halts the rollout (a completed one
// too), so that a person decides whether the rest goes on (Resume) or the
// whole change is rolled back (RollBackAll); an operator's hold is lifted so
// the rollbacks go out.
func (s *State) RollBack(now time.Time, why string, hostIDs ...string) error {
	switch {
	case s.p.Status == StatusRollingBack:
		return fmt.Errorf("roll back hosts: %w", ErrRollingBack)
	case s.p.Status == StatusRolledBack || s.p.Status == StatusRollbackFailed:
		return fmt.Errorf("roll back hosts: %w (%s)", ErrFinished, s.p.Status)
	case len(hostIDs) == 0:
		return fmt.Errorf("roll back hosts: name at least one host")
	}
	idx := make([]int, 0, len(hostIDs))
	for _, id := range hostIDs {
		i, ok := s.index[id]
		if !ok {
			return fmt.Errorf("roll back host %q: %w", id, ErrUnknownHost)
		}
		if st := s.p.Hosts[i].Status; st != HostSucceeded && st != HostFailed {
			return fmt.Errorf("roll back host %q (%s): %w", id, st, ErrNotSettled)
		}
		idx = append(idx, i)
	}
	for _, i := range idx {
		s.startRollback(i, "rollback requested: "+why)
	}
	s.p.Held = false
	if s.p.Status == StatusRunning || s.p.Status == StatusCompleted {
		s.p.Status = StatusHalted
		s.p.Reason = fmt.Sprintf("halted: rollback of %d hosts requested: %s; resume to go on or roll back the whole change", len(idx), why)
	}
	return nil
}

// RollBackAll rolls back the whole rollout, whatever it had reached
// (running, halted, cancelled or completed): nothing goes forward again,
// every host that installed (succeeded or failed) is rolled back now, and a
// host in flight when it reports or times out. The rollout ends rolled back,
// or rollback failed naming the hosts; never completed.
func (s *State) RollBackAll(now time.Time, why string) error {
	switch s.p.Status {
	case StatusRollingBack:
		return fmt.Errorf("roll back: %w", ErrRollingBack)
	case StatusRolledBack, StatusRollbackFailed:
		return fmt.Errorf("roll back: %w (%s)", ErrFinished, s.p.Status)
	}
	s.p.Status, s.p.Reason, s.p.Held = StatusRollingBack, "rollback requested: "+why, false
	for i := range s.p.Hosts {
		h := &s.p.Hosts[i]
		switch {
		case h.Status == HostSucceeded, h.Status == HostFailed:
			s.startRollback(i, s.p.Reason)
		case h.Status == HostInFlight && !h.Dispatched:
			// Installed, waiting for its reboot or restart.
			s.startRollback(i, s.p.Reason)
		}
	}
	return nil
}

// Halt stops dispatching, at an operator's request: nothing goes out, not
// even rollbacks, until Resume or a rollback request. Halting a halted
// rollout keeps the first reason. A rollout being rolled back cannot be
// halted (the emergency stop holds its jobs back instead).
func (s *State) Halt(now time.Time, reason string) error {
	switch {
	case s.p.Status.final() || s.p.Status == StatusCancelled:
		return fmt.Errorf("halt: %w (%s)", ErrFinished, s.p.Status)
	case s.p.Status == StatusRollingBack:
		return fmt.Errorf("halt: %w", ErrRollingBack)
	case s.p.Status == StatusHalted:
		s.p.Held = true
		return nil
	}
	s.p.Status, s.p.Reason, s.p.Held = StatusHalted, "halted: "+reason, true
	return nil
}

// Resume continues a halted rollout where it stopped. The caller checks that
// the resuming user may do so (a second person); by is recorded. A rollout
// whose failures exceed the budget cannot be resumed; cancel it instead.
func (s *State) Resume(now time.Time, by string) error {
	if s.p.Status != StatusHalted {
		return fmt.Errorf("resume (%s): %w", s.p.Status, ErrNotHalted)
	}
	if s.failed > s.budget {
		return fmt.Errorf("resume: %w (%d failed, budget %d); cancel the change or roll it back", ErrBudgetExceeded, s.failed, s.budget)
	}
	s.p.Status, s.p.Reason, s.p.ResumedBy, s.p.Held = StatusRunning, "", by, false
	return nil
}

// Cancel ends the rollout: nothing more is dispatched, but results of jobs
// in flight and rollbacks are still recorded.
func (s *State) Cancel(now time.Time, reason string) error {
	switch {
	case s.p.Status.final() || s.p.Status == StatusCancelled:
		return fmt.Errorf("cancel: %w (%s)", ErrFinished, s.p.Status)
	case s.p.Status == StatusRollingBack:
		return fmt.Errorf("cancel: %w", ErrRollingBack)
	}
	s.p.Status, s.p.Reason = StatusCancelled, "cancelled: "+reason
	return nil
}

// Withdraw records that the job handed out to hostID for phase was taken
// back before the host received it (a halt or emergency stop withdrew it):
// an install puts the host back among the pending hosts, any other phase
// waits to be handed out again. Step decides again when it may go out.
func (s *State) Withdraw(hostID string, phase Phase) error {
	i, known := s.index[hostID]
	if !known {
		return fmt.Errorf("withdraw job of host %q: %w", hostID, ErrUnknownHost)
	}
	h, hp := &s.p.Hosts[i], &s.p.Plan.Hosts[i]
	if !h.Dispatched || h.Phase != phase {
		return fmt.Errorf("withdraw %s job of host %q (%s): %w", phase, hostID, h.Status, ErrNotInFlight)
	}
	h.Dispatched, h.DispatchedAt = false, time.Time{}
	if phase == PhaseInstall {
		s.setStatus(i, HostPending)
		h.Phase = ""
		pend := s.pending[hp.Ring]
		k, _ := slices.BinarySearch(pend, i)
		s.pending[hp.Ring] = slices.Insert(pend, k, i)
	}
	return nil
}

// Exclude takes a host whose job cannot be built (for example its reported
// architecture is not one a job may name) out of the rollout: it gets no
// job, does not count against the failure budget and does not hold up its
// wave; why is kept as its detail. Only a host whose install has not been
// reported may be excluded.
func (s *State) Exclude(now time.Time, hostID, why string) error {
	i, known := s.index[hostID]
	if !known {
		return fmt.Errorf("exclude host %q: %w", hostID, ErrUnknownHost)
	}
	h, hp := &s.p.Hosts[i], &s.p.Plan.Hosts[i]
	switch {
	case h.Status == HostPending:
		s.pending[hp.Ring] = slices.DeleteFunc(s.pending[hp.Ring], func(j int) bool { return j == i })
	case h.Status == HostInFlight && h.Phase == PhaseInstall:
	default:
		return fmt.Errorf("exclude host %q (%s): %w", hostID, h.Status, ErrNotPending)
	}
	s.setStatus(i, HostExcluded)
	h.Phase, h.Dispatched, h.DispatchedAt, h.FinishedAt = "", false, time.Time{}, now
	h.Detail = "excluded: " + why
	return nil
}

// Clamp reports a target whose offered version was replaced by the pinned one.
type Clamp struct {
	Offered Target
	Pinned  string
}

// UpdateTargets replaces a pending host's targets, for example when newer
// fixed versions appear. A package whose version is already pinned (it was
// dispatched to an earlier host) keeps the pinned version; every such
// replacement is returned. Targets of a dispatched host cannot change.
func (s *State) UpdateTargets(hostID string, targets []Target) ([]Clamp, error) {
	i, ok := s.index[hostID]
	if !ok {
		return nil, fmt.Errorf("update targets of host %q: %w", hostID, ErrUnknownHost)
	}
	if s.p.Hosts[i].Status != HostPending {
		return nil, fmt.Errorf("update targets of host %q (%s): %w", hostID, s.p.Hosts[i].Status, ErrNotPending)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("update targets of host %q: at least one target is required", hostID)
	}
	platform := s.p.Plan.Hosts[i].Platform
	out := make([]Target, len(targets))
	var clamps []Clamp
	seen := map[string]bool{}
	for j, t := range targets {
		if t.Name == "" || t.Version == "" {
			return nil, fmt.Errorf("update targets of host %q: targets[%d]: name and version are required", hostID, j)
		}
		k := pinKey(platform, t)
		if seen[k] {
			return nil, fmt.Errorf("update targets of host %q: targets[%d]: %s listed twice", hostID, j, t.Name)
		}
		seen[k] = true
		if v, pinned := s.p.Pins[k]; pinned && v != t.Version {
			clamps = append(clamps, Clamp{Offered: t, Pinned: v})
			t.Version = v
		}
		out[j] = t
	}
	s.p.Hosts[i].Targets = out
	return clamps, nil
}

// UpdateWindows replaces the open periods of a group, as the caller expands
// more of its schedule.
func (s *State) UpdateWindows(group string, windows []Window) error {
	for i, w := range windows {
		if !w.Start.Before(w.End) {
			return fielderr.Errorf(fmt.Sprintf("windows[%q][%d]", group, i), "start is not before end")
		}
	}
	if s.p.Plan.Windows == nil {
		s.p.Plan.Windows = map[string][]Window{}
	}
	s.p.Plan.Windows[group] = slices.Clone(windows)
	return nil
}
