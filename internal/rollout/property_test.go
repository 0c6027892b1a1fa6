package rollout

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 22, 0, 0, 0, time.UTC)

// genPlan makes a random but valid plan.
func genPlan(r *rand.Rand) Plan {
	nRings := 1 + r.IntN(4)
	nGroups := 1 + r.IntN(4)
	nHosts := 1 + r.IntN(1+r.IntN(200))
	p := Plan{
		Soak:         time.Duration(r.IntN(4)) * 30 * time.Minute,
		JobTimeout:   time.Duration(10+r.IntN(110)) * time.Minute,
		Windows:      map[string][]Window{},
		AutoRollback: r.IntN(3) == 0,
	}
	for i := range nRings {
		p.Rings = append(p.Rings, fmt.Sprintf("ring%d", i))
	}
	if r.IntN(2) == 0 {
		p.BatchSize = 1 + r.IntN(20)
	} else {
		p.BatchPercent = 1 + r.IntN(100)
	}
	switch r.IntN(3) {
	case 0:
		p.FailureBudget = r.IntN(5)
	case 1:
		p.FailurePercent = r.IntN(30)
	}
	for i := range r.IntN(3) {
		p.HealthChecks = append(p.HealthChecks, fmt.Sprintf("check%d", i))
	}
	for g := range nGroups {
		name := fmt.Sprintf("g%d", g)
		switch k := r.IntN(20); {
		case k == 0: // never open
		case k < 6:
			p.Windows[name] = []Window{{t0.Add(-time.Hour), t0.Add(365 * 24 * time.Hour)}}
		default:
			at := t0.Add(time.Duration(r.IntN(600)-60) * time.Minute)
			for range 5 + r.IntN(30) {
				length := time.Duration(20+r.IntN(480)) * time.Minute
				p.Windows[name] = append(p.Windows[name], Window{at, at.Add(length)})
				at = at.Add(length + time.Duration(r.IntN(24*60))*time.Minute)
			}
		}
	}
	platforms := []string{"debian-12", "debian-11", "rocky-9"}
	for i := range nHosts {
		plat := platforms[r.IntN(len(platforms))]
		h := HostPlan{
			HostID:   fmt.Sprintf("h%03d", i),
			Group:    fmt.Sprintf("g%d", r.IntN(nGroups)),
			Platform: plat,
			Ring:     r.IntN(nRings),
			Tier:     r.IntN(1 + r.IntN(3)),
		}
		for _, pkg := range []string{"openssl", "libc6", "curl"} {
			if r.IntN(2) == 0 || len(h.Targets) == 0 && pkg == "curl" {
				h.Targets = append(h.Targets, Target{Name: pkg, Arch: "amd64", Version: plat + "-" + pkg + "-1.1"})
			}
		}
		switch r.IntN(3) {
		case 0:
			h.NeedsReboot = true
		case 1:
			h.RestartOnly = []string{"nginx", "sshd"}[:1+r.IntN(2)]
		}
		if h.NeedsReboot && r.IntN(2) == 0 {
			h.RestartOnly = []string{"nginx"}
		}
		p.Hosts = append(p.Hosts, h)
	}
	return p
}

// genPolicyPlan makes a random plan whose reboots and restarts come from
// a reboot policy applied to each host's random needs, as the server
// builds them; it returns the policy and needs by host for the checker.
func genPolicyPlan(r *rand.Rand) (Plan, map[string]hostNeeds) {
	p := genPlan(r)
	policies := []RebootPolicy{RebootRestartServices, RebootRestartServices, RebootIfRequired, "", RebootNever, RebootAlways}
	planWide := policies[r.IntN(len(policies))]
	needs := map[string]hostNeeds{}
	for i := range p.Hosts {
		h := &p.Hosts[i]
		pol := planWide
		if r.IntN(4) == 0 { // groups may differ
			pol = policies[r.IntN(len(policies))]
		}
		var n Needs
		switch r.IntN(4) {
		case 0:
			n.Reboot = true
		case 1:
			n.Services = []string{"nginx.service", "ssh.service"}[:1+r.IntN(2)]
		case 2:
			n.Reboot, n.Services = true, []string{"cron.service"}
		}
		h.NeedsReboot, h.RestartOnly = pol.AfterPatch(n)
		needs[h.HostID] = hostNeeds{pol, n}
	}
	return p, needs
}

// hostNeeds is what the generator decided for a host of a policy plan.
type hostNeeds struct {
	policy RebootPolicy
	needs  Needs
}

// want is the follow-up job the host must get after a good install:
// ActReboot, ActRestart or "" for neither.
func (h hostNeeds) want() ActionKind {
	switch {
	case h.policy == RebootAlways:
		return ActReboot
	case h.policy == RebootNever:
		return ""
	case h.needs.Reboot:
		return ActReboot
	case h.policy == RebootRestartServices && len(h.needs.Services) > 0:
		return ActRestart
	}
	return ""
}

// job is a job the test fleet is running.
type job struct {
	host     string
	phase    Phase
	targets  []Target
	deadline time.Time
}

// checker holds what the test knows from the actions it saw; it asserts the
// invariants after every step.
type checker struct {
	t         testing.TB
	seed      uint64
	plan      Plan
	jobs      map[string]job    // outstanding, by host
	sent      map[string]int    // host/phase → times dispatched
	pins      map[string]string // pin key → version first dispatched
	jobEnd    map[int]time.Time // ring → latest job end (result or deadline)
	health    map[int]map[string]healthRecord
	started   map[int]bool          // rings that received a job
	bound     int                   // budget + in flight at last install dispatch
	kinds     map[string]ActionKind // host → reboot or restart
	installed map[string][]Target   // host → targets of its install job
	limitMax  int
	// needs, for plans built from a reboot policy, is each host's policy
	// and reported needs; verified records hosts whose follow-up job was
	// checked when they succeeded.
	needs    map[string]hostNeeds
	verified map[string]bool
	// held is set once an operator's Halt returned and cleared by Resume
	// or a rollback request: no job at all may go out meanwhile.
	held bool
	// wholeRollback is set once RollBackAll returned: nothing may go
	// forward again and the rollout must not end in a success status.
	wholeRollback bool
	// changed marks hosts whose packages the test fleet changed and no
	// rollback has restored yet (the recorded versions are the originals).
	changed map[string]bool
	// late marks hosts whose rollback was asked for after their wave had
	// passed: their rollback does not reopen that wave.
	late map[string]bool
}

func (c *checker) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("seed %d: %s", c.seed, fmt.Sprintf(format, args...))
}

func (c *checker) ringOf(s *State, host string) int { return s.p.Plan.Hosts[s.index[host]].Ring }

// afterStep checks the invariants after Step(now) returned acts; statusBefore
// is the status before the step.
func (c *checker) afterStep(s *State, now time.Time, statusBefore Status, acts []Action) {
	c.t.Helper()
	p := &s.p.Plan
	sum := s.Summary()
	// Jobs past their deadline count as failed.
	if c.wholeRollback && (sum.Status == StatusCompleted || sum.Status == StatusRunning || sum.Status == StatusHalted || sum.Status == StatusCancelled) {
		c.fatalf("status %s after a whole rollback", sum.Status)
	}
	for _, a := range acts {
		switch a.Kind {
		case ActDispatch, ActReboot, ActRestart, ActRollback:
			if c.held {
				c.fatalf("%s to %s after an operator's halt", a.Kind, a.HostID)
			}
			if c.wholeRollback && a.Kind != ActRollback {
				c.fatalf("%s to %s after a whole rollback", a.Kind, a.HostID)
			}
		}
	}
	for host, j := range c.jobs {
		if !now.Before(j.deadline) {
			if j.phase == PhaseInstall {
				c.changed[host] = true // it may have installed and never said so
			}
			h := s.p.Hosts[s.index[host]]
			if j.phase != PhaseRollback && !h.Failed {
				c.fatalf("%s %s timed out but the host is not failed (%s)", host, j.phase, h.Status)
			}
			if !c.late[host] {
				c.end(c.ringOf(s, host), j.deadline)
			}
			delete(c.jobs, host)
		}
	}
	installs := 0
	for _, a := range acts {
		switch a.Kind {
		case ActDispatch, ActReboot, ActRestart, ActRollback:
			key := a.HostID + "/" + string(a.Phase)
			c.sent[key]++
			if c.sent[key] > 1 {
				c.fatalf("%s dispatched twice", key)
			}
			if _, busy := c.jobs[a.HostID]; busy {
				c.fatalf("host %s got %s while a job is out", a.HostID, a.Kind)
			}
			c.jobs[a.HostID] = job{a.HostID, a.Phase, a.Targets, a.Deadline}
			if !a.Deadline.Equal(now.Add(p.JobTimeout)) {
				c.fatalf("deadline %s, want now+timeout", a.Deadline)
			}
		}
		if a.Kind == ActRollback {
			continue
		}
		if a.Kind == ActDispatch || a.Kind == ActReboot || a.Kind == ActRestart {
			hp := p.Hosts[s.index[a.HostID]]
			if statusBefore != StatusRunning || sum.Status == StatusHalted || sum.Status == StatusCancelled {
				c.fatalf("%s to %s while %s/%s", a.Kind, a.HostID, statusBefore, sum.Status)
			}
			if !c.windowOpen(hp.Group, now) {
				c.fatalf("%s to %s (group %s) outside a window at %s", a.Kind, a.HostID, hp.Group, now)
			}
			if sum.Failed > s.budget {
				c.fatalf("dispatch with %d failed > budget %d", sum.Failed, s.budget)
			}
			switch a.Kind {
			case ActReboot:
				if !hp.NeedsReboot {
					c.fatalf("reboot for %s that does not need one", a.HostID)
				}
			case ActRestart:
				if hp.NeedsReboot || len(hp.RestartOnly) == 0 || !slices.Equal(a.Services, hp.RestartOnly) {
					c.fatalf("restart for %s: needs reboot %v, services %v", a.HostID, hp.NeedsReboot, a.Services)
				}
			}
			if a.Kind != ActDispatch {
				c.checkFollowUp(s, a, hp)
				if k, ok := c.kinds[a.HostID]; ok && k != a.Kind {
					c.fatalf("host %s got both %s and %s", a.HostID, k, a.Kind)
				}
				c.kinds[a.HostID] = a.Kind
				continue
			}
			installs++
			c.installed[a.HostID] = a.Targets
			for _, t := range a.Targets {
				k := pinKey(hp.Platform, t)
				if v, ok := c.pins[k]; ok && v != t.Version {
					c.fatalf("%s got %s %s, pinned %s", a.HostID, t.Name, t.Version, v)
				}
				c.pins[k] = t.Version
			}
			c.checkWaveOrder(s, hp.Ring, now)
			// Reboot tiers: no lower tier of the same group and wave unfinished
			// other than hosts dispatched... none at all.
			for j, other := range p.Hosts {
				if other.Ring == hp.Ring && other.Group == hp.Group && other.Tier < hp.Tier && s.p.Hosts[j].Status.unfinished() {
					c.fatalf("%s (tier %d) dispatched while %s (tier %d) is %s", a.HostID, hp.Tier, other.HostID, other.Tier, s.p.Hosts[j].Status)
				}
			}
		}
	}
	// In flight within the batch limit, all in the current wave.
	inFlight := 0
	for i := range s.p.Hosts {
		h := &s.p.Hosts[i]
		if id := p.Hosts[i].HostID; h.Status == HostSucceeded && c.needs != nil && !c.verified[id] {
			// After patching: rebooted if it needed a reboot, restarted if
			// it needed only restarts (under restart-services), else neither.
			if want := c.needs[id].want(); c.kinds[id] != want {
				c.fatalf("%s succeeded with follow-up %q, want %q (policy %q, needs %+v)", id, c.kinds[id], want, c.needs[id].policy, c.needs[id].needs)
			}
			c.verified[id] = true
		}
		if h.Status == HostInFlight {
			inFlight++
			if p.Hosts[i].Ring != sum.Wave {
				c.fatalf("%s in flight in ring %d, wave is %d", p.Hosts[i].HostID, p.Hosts[i].Ring, sum.Wave)
			}
		}
		if h.Dispatched && !now.Before(h.DispatchedAt.Add(p.JobTimeout)) {
			c.fatalf("%s still in flight past its deadline after Step", p.Hosts[i].HostID)
		}
	}
	if inFlight != sum.InFlight || inFlight > s.limits[sum.Wave] {
		c.fatalf("in flight %d (summary %d), limit %d", inFlight, sum.InFlight, s.limits[sum.Wave])
	}
	if installs > 0 {
		c.bound = s.budget + inFlight
	}
	if sum.Failed > c.bound && sum.Failed > s.budget {
		c.fatalf("failed %d > budget %d + in flight at last dispatch (%d)", sum.Failed, s.budget, c.bound-s.budget)
	}
	if sum.Failed > s.budget+c.limitMax {
		c.fatalf("failed %d > budget %d + batch limit %d", sum.Failed, s.budget, c.limitMax)
	}
	if sum.Failed > s.budget && sum.Status == StatusRunning {
		c.fatalf("failed %d > budget %d but still running", sum.Failed, s.budget)
	}
}

// checkFollowUp asserts, for a reboot or restart of host hp: under a
// reboot policy it is what the host's needs call for (no host is rebooted
// when only services need a restart under restart-services), and reboot
// tiers run one at a time in order: every lower tier of the host's group
// and wave has finished and no higher tier has started.
func (c *checker) checkFollowUp(s *State, a Action, hp HostPlan) {
	c.t.Helper()
	if hn, ok := c.needs[a.HostID]; ok {
		if a.Kind == ActReboot && hn.policy == RebootRestartServices && !hn.needs.Reboot {
			c.fatalf("%s rebooted under restart-services though it needs only %v", a.HostID, hn.needs.Services)
		}
		if want := hn.want(); a.Kind != want {
			c.fatalf("%s got %s, want %q (policy %q, needs %+v)", a.HostID, a.Kind, want, hn.policy, hn.needs)
		}
		if a.Kind == ActRestart && !slices.Equal(a.Services, hn.needs.Services) {
			c.fatalf("%s restarts %v, needs %v", a.HostID, a.Services, hn.needs.Services)
		}
	}
	for j, other := range s.p.Plan.Hosts {
		if other.Ring != hp.Ring || other.Group != hp.Group || other.HostID == hp.HostID {
			continue
		}
		st := s.p.Hosts[j].Status
		if other.Tier < hp.Tier && st.unfinished() {
			c.fatalf("%s of %s (tier %d) while %s (tier %d) is %s", a.Kind, hp.HostID, hp.Tier, other.HostID, other.Tier, st)
		}
		if other.Tier > hp.Tier && st != HostPending && st != HostExcluded {
			c.fatalf("%s of %s (tier %d) while %s of a later tier %d has started (%s)", a.Kind, hp.HostID, hp.Tier, other.HostID, other.Tier, st)
		}
	}
}

func (c *checker) end(ring int, t time.Time) {
	if t.After(c.jobEnd[ring]) {
		c.jobEnd[ring] = t
	}
}

func (c *checker) windowOpen(group string, now time.Time) bool {
	for _, w := range c.plan.Windows[group] {
		if !now.Before(w.Start) && !now.Add(c.plan.JobTimeout).After(w.End) {
			return true
		}
	}
	return false
}

// checkWaveOrder asserts, at the first dispatch of ring r, that earlier
// rings finished, soaked and passed their checks.
func (c *checker) checkWaveOrder(s *State, r int, now time.Time) {
	if c.started[r] {
		return
	}
	c.started[r] = true
	for i, hp := range s.p.Plan.Hosts {
		if hp.Ring < r && s.p.Hosts[i].Status.unfinished() && !c.late[hp.HostID] {
			c.fatalf("ring %d started while %s of ring %d is %s", r, hp.HostID, hp.Ring, s.p.Hosts[i].Status)
		}
	}
	for prev := range r {
		if !c.started[prev] {
			continue // empty ring
		}
		fin := c.jobEnd[prev]
		if now.Before(fin.Add(s.p.Plan.Soak)) {
			c.fatalf("ring %d started at %s before ring %d soaked (finished %s, soak %s)", r, now, prev, fin, s.p.Plan.Soak)
		}
		for _, chk := range s.p.Plan.HealthChecks {
			rec, ok := c.health[prev][chk]
			if !ok || !rec.OK || rec.At.Before(fin) {
				c.fatalf("ring %d started without check %s ok on ring %d after %s (%+v)", r, chk, prev, fin, rec)
			}
		}
	}
}

// scenario drives one random rollout; twin, if not nil, gets the same events
// through a JSON round trip before every call and must act identically.
func scenario(t testing.TB, seed uint64, withTwin bool) (steps int, outcome string) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var plan Plan
	var needs map[string]hostNeeds
	if seed%2 == 1 { // half the scenarios build reboots from a reboot policy
		plan, needs = genPolicyPlan(r)
	} else {
		plan = genPlan(r)
	}
	failPercent := []int{0, 1, 3, 10}[r.IntN(4)]
	lostPercent := []int{0, 0, 1, 5}[r.IntN(4)] // jobs that never report
	lost := map[string]bool{}
	s, err := New(plan)
	if err != nil {
		t.Fatalf("seed %d: New: %v", seed, err)
	}
	var twin *State
	if withTwin {
		twin, _ = New(plan)
	}
	c := &checker{
		t: t, seed: seed, plan: plan, jobs: map[string]job{}, sent: map[string]int{}, pins: map[string]string{},
		jobEnd: map[int]time.Time{}, health: map[int]map[string]healthRecord{}, started: map[int]bool{},
		kinds: map[string]ActionKind{}, installed: map[string][]Target{},
		needs: needs, verified: map[string]bool{}, changed: map[string]bool{}, late: map[string]bool{},
	}
	for _, l := range s.limits {
		c.limitMax = max(c.limitMax, l)
	}
	c.bound = s.budget
	roundTrip := func() {
		if twin == nil {
			return
		}
		data, err := json.Marshal(twin)
		if err != nil {
			t.Fatalf("seed %d: marshal: %v", seed, err)
		}
		var back State
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("seed %d: unmarshal: %v", seed, err)
		}
		twin = &back
	}
	same := func(what string, a, b any) {
		if twin != nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: %s differs after JSON round trip:\n%+v\n%+v", seed, what, a, b)
		}
	}
	now := t0.Add(-30 * time.Minute)
	var lastWake time.Time
	var replay []func(*State) error
	for steps = 0; steps < 3000 && now.Before(t0.Add(60*24*time.Hour)); steps++ {
		// Events.
		{ // results for most outstanding jobs
			hosts := make([]string, 0, len(c.jobs))
			for h := range c.jobs {
				hosts = append(hosts, h)
			}
			slices.Sort(hosts)
			for _, h := range hosts {
				j := c.jobs[h]
				key := h + "/" + string(j.phase)
				if _, seen := lost[key]; !seen {
					lost[key] = r.IntN(100) < lostPercent
				}
				if lost[key] || r.IntN(5) == 0 || !now.Before(j.deadline) {
					continue
				}
				ok := r.IntN(100) >= failPercent
				installed := map[string]string{}
				for _, tg := range c.installed[h] {
					installed[tg.Name] = tg.Version
				}
				if ok && j.phase == PhaseInstall && failPercent > 0 && r.IntN(100) < failPercent {
					installed[j.targets[0].Name] = "0.9" // verification must catch it
				}
				switch {
				case j.phase == PhaseInstall:
					// A failed install may have changed some packages.
					c.changed[h] = ok || r.IntN(2) == 0
				case j.phase == PhaseRollback && ok:
					c.changed[h] = false
				}
				at, phase := now, j.phase
				ev := func(st *State) error { return st.HostResult(at, h, phase, ok, installed, "test") }
				if err := ev(s); err != nil {
					t.Fatalf("seed %d: result %s %s: %v", seed, h, phase, err)
				}
				if twin != nil {
					if err := ev(twin); err != nil {
						t.Fatalf("seed %d: twin result: %v", seed, err)
					}
				}
				delete(c.jobs, h)
				if !c.late[h] {
					c.end(c.ringOf(s, h), now)
				}
				replay = append(replay, ev)
			}
		}
		switch k := r.IntN(100); {
		case k < 50: // health checks for the current wave
			w := s.p.Wave
			for _, chk := range plan.HealthChecks {
				ok := r.IntN(200) != 0
				at := now
				ev := func(st *State) error { return st.HealthResult(at, w, chk, ok) }
				err1 := ev(s)
				if twin != nil {
					same("health error", err1, ev(twin))
				}
				if err1 == nil {
					if c.health[w] == nil {
						c.health[w] = map[string]healthRecord{}
					}
					if rec, seen := c.health[w][chk]; !seen || !now.Before(rec.At) {
						c.health[w][chk] = healthRecord{ok, now}
					}
				}
			}
		case k < 52:
			reason := "operator"
			err1 := s.Halt(now, reason)
			if twin != nil {
				same("halt", err1, twin.Halt(now, reason))
			}
			if err1 == nil {
				c.held = true
			}
		case k < 60:
			if s.p.Status == StatusHalted && r.IntN(2) == 0 {
				err1 := s.Resume(now, "second")
				if twin != nil {
					same("resume", err1, twin.Resume(now, "second"))
				}
				if err1 == nil {
					c.held = false
				}
			}
		case k < 61 && r.IntN(5) == 0:
			_ = s.Cancel(now, "test")
			if twin != nil {
				_ = twin.Cancel(now, "test")
			}
		case k < 64: // newer versions offered for a pending host
			i := r.IntN(len(plan.Hosts))
			if s.p.Hosts[i].Status == HostPending {
				offer := slices.Clone(s.p.Hosts[i].Targets)
				for j := range offer {
					offer[j].Version += "+new"
				}
				clamps, err := s.UpdateTargets(plan.Hosts[i].HostID, offer)
				if err != nil {
					t.Fatalf("seed %d: UpdateTargets: %v", seed, err)
				}
				for _, cl := range clamps {
					if cl.Pinned != c.pins[pinKey(plan.Hosts[i].Platform, cl.Offered)] {
						t.Fatalf("seed %d: clamp %+v does not match pin", seed, cl)
					}
				}
				if twin != nil {
					twin.UpdateTargets(plan.Hosts[i].HostID, offer)
				}
			}
		case k < 67 && len(replay) > 0: // a replayed result changes nothing
			ev := replay[r.IntN(len(replay))]
			var before []byte
			if withTwin {
				before, _ = json.Marshal(s)
			}
			if err := ev(s); err == nil {
				t.Fatalf("seed %d: replayed result accepted", seed)
			}
			if withTwin {
				if after, _ := json.Marshal(s); string(before) != string(after) {
					t.Fatalf("seed %d: replayed result changed the state", seed)
				}
			}
			if err := s.HostResult(now, "nobody", PhaseInstall, true, nil, ""); err == nil {
				t.Fatalf("seed %d: result for unknown host accepted", seed)
			}
		case k < 68 && r.IntN(4) == 0: // the whole change is rolled back
			at := now
			event(s, twin, same, "roll back all", func(st *State) error { return st.RollBackAll(at, "test") }, func() {
				c.wholeRollback, c.held = true, false
			})
		case k < 70: // a few settled hosts are rolled back
			var hosts []string
			for i, h := range s.p.Hosts {
				if (h.Status == HostSucceeded || h.Status == HostFailed) && r.IntN(4) == 0 {
					hosts = append(hosts, plan.Hosts[i].HostID)
				}
			}
			at := now
			wave := s.p.Wave
			event(s, twin, same, "roll back hosts", func(st *State) error { return st.RollBack(at, "test", hosts...) }, func() {
				c.held = false
				for _, h := range hosts {
					if c.ringOf(s, h) < wave {
						c.late[h] = true
					}
				}
				if st := s.p.Status; st != StatusHalted && st != StatusCancelled {
					t.Fatalf("seed %d: %s after a host rollback, want halted", seed, st)
				}
			})
		case k < 72 && len(c.jobs) > 0: // a job not yet delivered is withdrawn
			hosts := slices.Sorted(maps.Keys(c.jobs))
			h := hosts[r.IntN(len(hosts))]
			j := c.jobs[h]
			event(s, twin, same, "withdraw", func(st *State) error { return st.Withdraw(h, j.phase) }, func() {
				delete(c.jobs, h)
				c.sent[h+"/"+string(j.phase)]--
			})
		case k < 73: // a host's job cannot be built
			i := r.IntN(len(plan.Hosts))
			h := plan.Hosts[i].HostID
			at := now
			event(s, twin, same, "exclude", func(st *State) error { return st.Exclude(at, h, "test") }, func() {
				if j, out := c.jobs[h]; out && j.phase == PhaseInstall {
					delete(c.jobs, h)
				}
				if s.p.Hosts[i].Status != HostExcluded || s.p.Hosts[i].Failed {
					t.Fatalf("seed %d: excluded %s is %s, failed %v", seed, h, s.p.Hosts[i].Status, s.p.Hosts[i].Failed)
				}
			})
		}
		// Clock.
		switch k := r.IntN(10); {
		case k < 4 && len(c.jobs) == 0 && !lastWake.IsZero() && lastWake.After(now):
			now = lastWake
		case k < 9:
			now = now.Add(time.Duration(1+r.IntN(20)) * time.Minute)
		case r.IntN(4) == 0:
			now = now.Add(time.Duration(1+r.IntN(48)) * time.Hour)
		}
		before := s.p.Status
		acts := s.Step(now)
		roundTrip()
		if twin != nil {
			same("actions", acts, twin.Step(now))
		}
		c.afterStep(s, now, before, acts)
		// Idempotence: stepping again at the same time hands out no job.
		again := s.Step(now)
		for _, a := range again {
			switch a.Kind {
			case ActDispatch, ActReboot, ActRestart, ActRollback:
				t.Fatalf("seed %d: second Step at the same time returned %s for %s", seed, a.Kind, a.HostID)
			}
		}
		if twin != nil {
			twin.Step(now)
		}
		lastWake = time.Time{}
		last := acts[len(acts)-1]
		lastWake = last.WakeAt
		if steps%50 == 0 {
			checkDerived(t, seed, s)
		}
		if c.wholeRollback && last.Kind == ActCompleted {
			t.Fatalf("seed %d: completed after a whole rollback", seed)
		}
		if last.Kind == ActRolledBack || last.Kind == ActRollbackFailed {
			// Every host the fleet changed is back at its recorded
			// versions, or named as a failed rollback.
			failed := s.Summary().RollbackFailed
			for _, h := range slices.Sorted(maps.Keys(c.changed)) {
				if c.changed[h] && !slices.Contains(failed, h) {
					t.Fatalf("seed %d: %s: %s is not at its recorded versions and not named (%v)", seed, last.Kind, h, failed)
				}
			}
			if last.Kind == ActRolledBack && len(failed) > 0 {
				t.Fatalf("seed %d: rolled back with failed rollbacks %v", seed, failed)
			}
			return steps, string(last.Kind)
		}
		if (last.Kind == ActCancelled || last.Kind == ActHalted && s.failed > s.budget) && len(c.jobs) == 0 && r.IntN(2) == 0 {
			if err := s.RollBackAll(now, "end"); err != nil {
				t.Fatalf("seed %d: roll back all from %s: %v", seed, last.Kind, err)
			}
			if twin != nil {
				twin.RollBackAll(now, "end")
			}
			c.wholeRollback, c.held = true, false
			continue
		}
		switch {
		case last.Kind == ActCompleted, last.Kind == ActCancelled && len(c.jobs) == 0:
			if twin != nil {
				a, _ := json.Marshal(s)
				b, _ := json.Marshal(twin)
				same("final state", string(a), string(b))
			}
			return steps, string(last.Kind)
		case last.Kind == ActHalted && s.failed > s.budget && len(c.jobs) == 0:
			return steps, "over budget"
		}
	}
	return steps, "stalled"
}

// event applies ev to s and to the twin (if any), checks both agree, and
// calls then when it was accepted.
func event(s, twin *State, same func(string, any, any), what string, ev func(*State) error, then func()) {
	err := ev(s)
	if twin != nil {
		same(what, err, ev(twin))
	}
	if err == nil {
		then()
	}
}

// checkDerived compares the incremental indexes with a fresh rebuild.
func checkDerived(t testing.TB, seed uint64, s *State) {
	t.Helper()
	fresh := &State{p: s.p}
	fresh.rebuild()
	if s.inFlight != fresh.inFlight || s.failed != fresh.failed || !slices.Equal(s.unfinished, fresh.unfinished) ||
		!slices.Equal(s.active, fresh.active) || !slices.Equal(s.pending[s.p.Wave], fresh.pending[s.p.Wave]) {
		t.Fatalf("seed %d: derived indexes drifted: inflight %d/%d failed %d/%d unfinished %v/%v active %v/%v",
			seed, s.inFlight, fresh.inFlight, s.failed, fresh.failed, s.unfinished, fresh.unfinished, s.active, fresh.active)
	}
	for k, v := range fresh.tierLeft {
		if s.tierLeft[k] != v {
			t.Fatalf("seed %d: tierLeft[%v] = %d, want %d", seed, k, s.tierLeft[k], v)
		}
	}
}

// One in twinEvery scenarios (50 of 6000) also runs a crash twin; its JSON round
// trips cost far more than the engine itself.
const twinEvery = 120

// TestProperties runs thousands of random rollouts and checks every
// invariant of the package doc after every step; one in twinEvery also runs
// a twin that is serialised and restored before every Step (a crash and
// restart) and must act exactly like the uninterrupted run.
func TestProperties(t *testing.T) {
	n := uint64(6000)
	if testing.Short() {
		n = 600
	}
	const shards = 4
	for shard := range uint64(shards) {
		t.Run(fmt.Sprintf("shard%d", shard), func(t *testing.T) {
			t.Parallel()
			outcomes := map[string]int{}
			total := 0
			for seed := shard; seed < n; seed += shards {
				steps, outcome := scenario(t, seed, (seed/shards)%twinEvery == 0)
				total += steps
				outcomes[outcome]++
			}
			t.Logf("%d scenarios, %d steps, outcomes %v", n/shards, total, outcomes)
		})
	}
}
