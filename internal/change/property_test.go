package change

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
)

// The lifecycle property test drives Decide, Drive and EngineEvent the way
// the server does, with the real rollout engine and simulated agents, and
// checks the change-level promises after every step of thousands of random
// scenarios.

const (
	oldVersion = "1.0" // every host's recorded version before the change
	newVersion = "2.0"
)

type simJob struct {
	phase    rollout.Phase
	deadline time.Time // the signed job expires then
	rollback bool
	forward  bool // install, reboot or restart: work the change does, not a repair
}

type sim struct {
	t         *testing.T
	r         *rand.Rand
	seed      uint64
	now       time.Time
	c         Change
	plan      rollout.Plan
	hostIDs   []string
	st        *rollout.State
	installed map[string]string   // host → version of package p on the host
	touched   map[string]bool     // hosts whose package changed at any time
	queued    map[string]simJob   // decided, not yet delivered (the server's pending jobs)
	out       map[string][]simJob // delivered, no result yet, in the order the agent runs them
	estop     bool
	estopBy   string
	rolledAll bool // a whole-change rollback was decided
	held      bool // an operator halt or emergency stop holds every job until resume or a rollback
	problem   bool // a problem sign-off was recorded
	log       []string
}

var simActors = []Actor{
	{Name: "olga", Role: RoleOperator, Teams: map[string]string{"A": "operator"}},
	{Name: "oscar", Role: RoleOperator, Teams: map[string]string{"B": "operator"}},
	{Name: "eve", Role: RoleAdmin},
	{Name: "alice", Role: RoleApprover, Teams: map[string]string{"A": "approver", "B": "approver"}},
	{Name: "andy", Role: RoleApprover, Teams: map[string]string{"A": "approver"}},
	{Name: "sam", Role: RoleStakeholder},
	{Name: "tom", Role: RoleStakeholder},
}

var sysActor = Actor{Name: "engine", Role: RoleSystem}

func newSim(t *testing.T, seed uint64) *sim {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &sim{t: t, r: r, seed: seed, now: time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC),
		installed: map[string]string{}, touched: map[string]bool{}, queued: map[string]simJob{}, out: map[string][]simJob{}}
	nRings := 1 + r.IntN(3)
	s.plan = rollout.Plan{BatchSize: 1 + r.IntN(3), FailureBudget: r.IntN(3), JobTimeout: 30 * time.Minute,
		Soak: time.Duration(r.IntN(2)) * 20 * time.Minute, AutoRollback: r.IntN(3) == 0,
		Windows: map[string][]rollout.Window{}}
	for i := range nRings {
		s.plan.Rings = append(s.plan.Rings, fmt.Sprintf("ring%d", i))
	}
	for _, g := range []string{"g1", "g2"} {
		s.plan.Windows[g] = []rollout.Window{{Start: s.now.Add(-time.Hour), End: s.now.AddDate(0, 1, 0)}}
	}
	for i := range 1 + r.IntN(8) {
		id := fmt.Sprintf("h%d", i)
		hp := rollout.HostPlan{HostID: id, Group: []string{"g1", "g2"}[r.IntN(2)], Platform: "debian-12", Ring: r.IntN(nRings),
			Targets: []rollout.Target{{Name: "p", Arch: "amd64", Version: newVersion}}, NeedsReboot: r.IntN(4) == 0}
		s.plan.Hosts = append(s.plan.Hosts, hp)
		s.hostIDs = append(s.hostIDs, id)
		s.installed[id] = oldVersion
	}
	slices.SortStableFunc(s.plan.Hosts, func(a, b rollout.HostPlan) int { return a.Ring - b.Ring })
	s.c = Change{ID: "c", State: Draft, Author: "olga", Teams: []string{"A", "B"},
		Stakeholders: map[string]string{"g1": "sam", "g2": "tom"}, SignOffs: map[string]bool{},
		Digest: Content{Plan: s.plan}.Digest(), Scheduled: r.IntN(4) == 0}
	return s
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	tail := s.log[max(0, len(s.log)-25):]
	s.t.Fatalf("seed %d: %s\nlast steps:\n  %s", s.seed, fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// decide asks the table and applies an allowed decision, as the server's
// transition does: the engine first (Drive; a refusal there stores
// nothing), then the change.
func (s *sim) decide(req Request, who Actor, hosts []string) (Decision, bool) {
	d, err := Decide(s.c, req, who, s.now)
	if err != nil {
		return d, false
	}
	if s.st != nil {
		if err := Drive(s.st, d, req, who.Name, hosts, s.now); err != nil {
			s.log = append(s.log, fmt.Sprintf("%s by %s refused by the engine: %v", req.Action, who.Name, err))
			return d, false
		}
	}
	if d.To == Halted && s.st != nil {
		s.withdraw() // every move to halted withdraws what was not delivered, in the same transaction
	}
	switch req.Action {
	case Halt, EmergencyStop:
		s.held = s.held || d.From == Running
	case Resume, RollbackHost, RollbackWave, RollbackAll:
		s.held = false
	}
	s.c.Apply(d, who.Name)
	s.log = append(s.log, fmt.Sprintf("%s %s by %s → %s", s.now.Format("15:04"), req.Action, who.Name, d.To))
	return d, true
}

// withdraw drops every job not yet delivered, as a halt or emergency stop
// does in the store in the same transaction.
func (s *sim) withdraw() {
	for h, j := range s.queued {
		if w, ok := any(s.st).(interface {
			Withdraw(string, rollout.Phase) error
		}); ok && s.st != nil {
			_ = w.Withdraw(h, j.phase)
		}
		delete(s.queued, h)
	}
}

func (s *sim) actor() Actor { return simActors[s.r.IntN(len(simActors))] }

func (s *sim) op() {
	s.now = s.now.Add(time.Duration(s.r.IntN(12)) * time.Minute)
	switch k := s.r.IntN(1000); {
	case k < 250:
		s.engineStep()
	case k < 420:
		s.deliver()
	case k < 600:
		s.result()
	case k < 620:
		if d, ok := s.decide(Request{Action: Edit}, s.actor(), nil); ok {
			s.plan.BatchSize = 1 + s.r.IntN(4)
			s.c.Digest = Content{Plan: s.plan}.Digest()
			if s.c.ApprovedBy != "" || s.c.ApprovedDigest != "" {
				s.fail("the approval by %q (%s) survived an edit (%s → %s)", s.c.ApprovedBy, s.c.ApprovedDigest, d.From, d.To)
			}
		}
	case k < 660:
		s.decide(Request{Action: Submit}, s.actor(), nil)
	case k < 710:
		s.decide(Request{Action: Approve}, s.actor(), nil)
	case k < 713:
		s.decide(Request{Action: Reject}, s.actor(), nil)
	case k < 716:
		s.decide(Request{Action: Cancel}, s.actor(), nil)
	case k < 770:
		who := s.actor()
		if s.r.IntN(3) == 0 {
			who = sysActor // the scheduler
		}
		if _, err := Decide(s.c, Request{Action: Start}, who, s.now); err == nil {
			if s.c.ApprovedDigest != s.c.Digest {
				s.fail("start allowed with approved digest %q and plan digest %q", s.c.ApprovedDigest, s.c.Digest)
			}
			st, err := rollout.New(s.plan)
			if err != nil {
				s.fail("plan: %v", err)
			}
			s.st = st
			s.decide(Request{Action: Start}, who, nil)
		}
	case k < 790:
		s.decide(Request{Action: Halt}, s.actor(), nil)
	case k < 830:
		s.decide(Request{Action: Resume}, s.actor(), nil)
	case k < 840:
		if s.st != nil {
			h := s.hostIDs[s.r.IntN(len(s.hostIDs))]
			s.decide(Request{Action: RollbackHost, Reason: h}, s.actor(), []string{h})
		}
	case k < 847:
		if s.st != nil {
			w := s.r.IntN(len(s.plan.Rings))
			s.decide(Request{Action: RollbackWave}, s.actor(), RollbackHosts(s.st, s.hostIDs, RollbackWave, w, nil))
		}
	case k < 854:
		if s.st != nil {
			if _, ok := s.decide(Request{Action: RollbackAll}, s.actor(), RollbackHosts(s.st, s.hostIDs, RollbackAll, 0, nil)); ok {
				s.rolledAll = true
			}
		}
	case k < 861:
		if !s.estop {
			who := s.actor()
			if who.Role != RoleOperator && who.Role != RoleAdmin {
				return
			}
			s.estop, s.estopBy = true, who.Name
			s.log = append(s.log, "emergency stop by "+who.Name)
			s.decide(Request{Action: EmergencyStop}, who, nil)
			s.withdraw()
			s.c.EmergencyStop = true
		}
	case k < 880:
		if who := s.actor(); s.estop && who.Name != s.estopBy && (who.Role == RoleOperator || who.Role == RoleAdmin) {
			s.estop, s.c.EmergencyStop = false, false
			s.log = append(s.log, "emergency stop released by "+who.Name)
			s.decide(Request{Action: Release}, who, nil)
		}
	default:
		g := []string{"g1", "g2"}[s.r.IntN(2)]
		a := SignOffOK
		if s.r.IntN(4) == 0 {
			a = SignOffProblem
		}
		if _, ok := s.decide(Request{Action: a, Group: g}, s.actor(), nil); ok {
			prev, seen := s.c.SignOffs[g]
			s.c.SignOffs[g] = a == SignOffOK && (!seen || prev)
			s.problem = s.problem || a == SignOffProblem
		}
	}
}

// engineStep is the engine loop's step: nothing while the emergency stop
// is in force; jobs queued; the engine's outcome through the table.
func (s *sim) engineStep() {
	if s.st == nil || s.estop || !slices.Contains([]State{Running, Halted, RollingBack}, s.c.State) {
		return
	}
	before := s.c.State
	for _, a := range s.st.Step(s.now) {
		var j simJob
		switch a.Kind {
		case rollout.ActDispatch, rollout.ActReboot, rollout.ActRestart:
			j = simJob{phase: a.Phase, deadline: a.Deadline, forward: true}
		case rollout.ActRollback:
			j = simJob{phase: a.Phase, deadline: a.Deadline, rollback: true}
		default:
			continue
		}
		if s.held {
			s.fail("the engine made a %s job for %s after a halt or emergency stop returned", a.Phase, a.HostID)
		}
		if j.forward && before != Running {
			s.fail("the engine dispatched %s to %s while the change was %s", a.Phase, a.HostID, before)
		}
		if j.forward && s.rolledAll {
			s.fail("the engine dispatched %s to %s after a whole-change rollback", a.Phase, a.HostID)
		}
		s.queued[a.HostID] = j
		s.log = append(s.log, fmt.Sprintf("%s engine: %s job for %s", s.now.Format("15:04"), a.Phase, a.HostID))
	}
	a, reason := EngineEvent(s.c.State, s.st.Summary())
	d, err := Decide(s.c, Request{Action: a, Reason: reason}, sysActor, s.now)
	if err != nil {
		if !errors.Is(err, ErrWrongState) {
			s.fail("engine event %s: %v", a, err)
		}
		return
	}
	if d.To != d.From {
		if d.To == Halted {
			s.withdraw() // the server withdraws undelivered jobs with every move to halted
		}
		s.c.Apply(d, sysActor.Name)
		s.log = append(s.log, fmt.Sprintf("%s %s → %s (%s)", s.now.Format("15:04"), a, d.To, reason))
	}
}

// deliver hands a queued job to its host at check-in, through the gate the
// server applies: nothing during an emergency stop; forward jobs only
// while running; rollbacks while running, halted or rolling back.
func (s *sim) deliver() {
	hs := sortedKeys(s.queued)
	if len(hs) == 0 {
		return
	}
	h := hs[s.r.IntN(len(hs))]
	j := s.queued[h]
	if !s.now.Before(j.deadline) {
		delete(s.queued, h) // the agent refuses an expired job
		return
	}
	if s.estop || (j.forward && s.c.State != Running) || (!j.forward && !slices.Contains([]State{Running, Halted, RollingBack}, s.c.State)) {
		return
	}
	delete(s.queued, h)
	s.out[h] = append(s.out[h], j)
	s.log = append(s.log, fmt.Sprintf("%s %s delivered to %s", s.now.Format("15:04"), j.phase, h))
}

// result is an agent reporting a delivered job: installs change the
// package (sometimes failing after installing), rollbacks restore the
// recorded version.
func (s *sim) result() {
	hs := sortedKeys(s.out)
	if len(hs) == 0 {
		return
	}
	h := hs[s.r.IntN(len(hs))]
	j := s.out[h][0]
	if s.out[h] = s.out[h][1:]; len(s.out[h]) == 0 {
		delete(s.out, h)
	}
	ok := s.r.IntN(10) < 8
	switch {
	case j.phase == rollout.PhaseInstall:
		if ok || s.r.IntN(2) == 0 {
			s.installed[h] = newVersion
			s.touched[h] = true
		}
	case j.rollback && ok:
		s.installed[h] = oldVersion
	}
	err := s.st.HostResult(s.now, h, j.phase, ok, map[string]string{"p": s.installed[h], "p:amd64": s.installed[h]}, "simulated")
	s.log = append(s.log, fmt.Sprintf("%s %s of %s reported ok=%v (at %s): %v", s.now.Format("15:04"), j.phase, h, ok, s.installed[h], err))
}

func (s *sim) check() {
	switch s.c.State {
	case Approved, Scheduled:
		if s.c.ApprovedDigest != s.c.Digest {
			s.fail("%s with approved digest %q but plan digest %q", s.c.State, s.c.ApprovedDigest, s.c.Digest)
		}
	case Completed:
		if s.problem {
			s.fail("completed although a problem sign-off was recorded")
		}
	case RolledBack:
		for h := range s.touched {
			if s.installed[h] != oldVersion {
				s.fail("rolled back, but %s is at %s, not its recorded %s", h, s.installed[h], oldVersion)
			}
		}
	}
	if s.rolledAll && slices.Contains([]State{Running, AwaitingSignOff, Completed, CompletedWithProblems}, s.c.State) {
		s.fail("a whole-change rollback ended %s", s.c.State)
	}
	if s.estop || s.c.State == Halted {
		for h, j := range s.queued {
			if j.forward && s.now.Before(j.deadline) {
				s.fail("%s job for %s is still queued while %s", j.phase, h, map[bool]string{true: "the emergency stop is in force", false: "halted"}[s.estop])
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLifecyclePropertiesHoldOverRandomScenarios(t *testing.T) {
	scenarios := 3000
	if testing.Short() {
		scenarios = 300
	}
	ended := map[State]int{}
	for seed := range uint64(scenarios) {
		s := newSim(t, seed)
		for range 400 {
			s.op()
			s.check()
		}
		ended[s.c.State]++
	}
	// The scenarios must reach the interesting ends, or they prove little.
	for _, st := range []State{Completed, CompletedWithProblems, RolledBack, Halted, Cancelled, Rejected} {
		if ended[st] == 0 {
			t.Errorf("no scenario ended %s: %v", st, ended)
		}
	}
	t.Logf("ends: %v", ended)
}
