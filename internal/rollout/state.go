package rollout

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Status is where the rollout as a whole stands.
type Status string

const (
	StatusRunning   Status = "running"
	StatusHalted    Status = "halted"
	StatusCancelled Status = "cancelled"
	StatusCompleted Status = "completed"
	// StatusRollingBack: the whole change is being rolled back. Nothing
	// goes forward again; every host that installed gets a rollback, a host
	// in flight gets its rollback when it reports or times out.
	StatusRollingBack Status = "rolling-back"
	// StatusRolledBack: every host that installed was rolled back (final).
	StatusRolledBack Status = "rolled-back"
	// StatusRollbackFailed: the rollback finished but the rollback of the
	// hosts Summary.RollbackFailed names failed (final).
	StatusRollbackFailed Status = "rollback-failed"
)

// final reports whether nothing more can happen to a rollout in status s.
func (s Status) final() bool {
	return s == StatusCompleted || s == StatusRolledBack || s == StatusRollbackFailed
}

// Phase names one job a host receives. A host goes through install, then
// reboot or restart if its plan asks for one; rollback follows a failure
// or a failed health check.
type Phase string

const (
	PhaseInstall  Phase = "install"
	PhaseReboot   Phase = "reboot"
	PhaseRestart  Phase = "restart"
	PhaseRollback Phase = "rollback"
)

// HostStatus is where one host stands.
type HostStatus string

const (
	HostPending        HostStatus = "pending"         // not yet dispatched
	HostInFlight       HostStatus = "in-flight"       // install, reboot or restart under way
	HostSucceeded      HostStatus = "succeeded"       // every phase reported ok
	HostFailed         HostStatus = "failed"          // a phase failed or timed out
	HostRollingBack    HostStatus = "rolling-back"    // rollback requested or under way
	HostRolledBack     HostStatus = "rolled-back"     // rollback reported ok
	HostRollbackFailed HostStatus = "rollback-failed" // rollback failed or timed out
	// HostExcluded: the host's job could not be built (its data changed
	// after planning); it gets no job and does not count against the
	// failure budget. Detail says why.
	HostExcluded HostStatus = "excluded"
)

// unfinished reports whether the host still holds up its wave.
func (s HostStatus) unfinished() bool {
	return s == HostPending || s == HostInFlight || s == HostRollingBack
}

func (s HostStatus) known() bool {
	switch s {
	case HostPending, HostInFlight, HostSucceeded, HostFailed, HostRollingBack, HostRolledBack, HostRollbackFailed, HostExcluded:
		return true
	}
	return false
}

// Errors returned by events that the engine ignores. None of them changes
// the state, so a caller replaying events after a crash may log and drop
// them.
var (
	ErrUnknownHost    = errors.New("host is not part of this rollout")
	ErrNotInFlight    = errors.New("no such job in flight")
	ErrLate           = errors.New("result arrived after the job deadline")
	ErrUnknownCheck   = errors.New("health check is not part of this plan")
	ErrWaveNotStarted = errors.New("wave has not started")
	ErrNotHalted      = errors.New("rollout is not halted")
	ErrBudgetExceeded = errors.New("failure budget exceeded")
	ErrFinished       = errors.New("rollout has finished")
	ErrNotPending     = errors.New("host has already been dispatched")
	ErrNotSettled     = errors.New("host has no finished install to roll back")
	ErrRollingBack    = errors.New("the whole rollout is being rolled back")
)

type hostState struct {
	Status HostStatus `json:"status"`
	// Phase is the current job's phase while in flight or rolling back.
	Phase Phase `json:"phase,omitempty"`
	// Dispatched is true once the current phase's job has been handed out.
	Dispatched   bool      `json:"dispatched,omitempty"`
	DispatchedAt time.Time `json:"dispatched_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	// Failed marks a host counted against the failure budget.
	Failed  bool     `json:"failed,omitempty"`
	Detail  string   `json:"detail,omitempty"`
	Targets []Target `json:"targets"`
}

type waveState struct {
	// FinishedAt is the latest time a host of the wave settled.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Passed     bool      `json:"passed,omitempty"`
}

type healthRecord struct {
	OK bool      `json:"ok"`
	At time.Time `json:"at"`
}

// persisted is everything the engine knows; derived indexes are rebuilt
// from it.
type persisted struct {
	Format    int    `json:"format"`
	Plan      Plan   `json:"plan"`
	Status    Status `json:"status"`
	Reason    string `json:"reason,omitempty"`
	ResumedBy string `json:"resumed_by,omitempty"`
	// Held is set by an operator's Halt: not even rollbacks go out until
	// Resume or a rollback request.
	Held   bool                      `json:"held,omitempty"`
	Wave   int                       `json:"wave"`
	Hosts  []hostState               `json:"hosts"`
	Pins   map[string]string         `json:"pins"`
	Waves  []waveState               `json:"waves"`
	Health []map[string]healthRecord `json:"health"`
}

const stateFormat = 1

type tierKey struct {
	ring  int
	group string
	tier  int
}

type groupKey struct {
	ring  int
	group string
}

// State is a rollout in progress. It is not safe for concurrent use; the
// caller serialises events and persists the state (MarshalJSON) after each.
type State struct {
	p persisted

	index      map[string]int
	pending    [][]int // per ring, pending host indices in plan order
	active     []int   // sorted indices of in-flight and rolling-back hosts
	inFlight   int     // hosts with HostInFlight
	failed     int     // hosts with Failed
	unfinished []int   // per ring
	tierLeft   map[tierKey]int
	groupTiers map[groupKey][]int // sorted distinct tiers
	limits     []int              // per ring batch limit
	ringHosts  []int              // per ring number of hosts
	budget     int
}

// New validates the plan and returns the state of a rollout that has not
// dispatched anything yet.
func New(p Plan) (*State, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s := &State{p: persisted{
		Format: stateFormat,
		Plan:   p,
		Status: StatusRunning,
		Hosts:  make([]hostState, len(p.Hosts)),
		Pins:   map[string]string{},
		Waves:  make([]waveState, len(p.Rings)),
		Health: make([]map[string]healthRecord, len(p.Rings)),
	}}
	for i, h := range p.Hosts {
		s.p.Hosts[i] = hostState{Status: HostPending, Targets: slices.Clone(h.Targets)}
	}
	for i := range s.p.Health {
		s.p.Health[i] = map[string]healthRecord{}
	}
	s.rebuild()
	s.skipEmpty()
	return s, nil
}

// skipEmpty moves the current wave past rings without hosts: they are not
// waves at all.
func (s *State) skipEmpty() {
	for s.p.Wave < len(s.p.Plan.Rings)-1 && s.ringHosts[s.p.Wave] == 0 {
		s.p.Waves[s.p.Wave].Passed = true
		s.p.Wave++
	}
}

// MarshalJSON encodes the whole state.
func (s *State) MarshalJSON() ([]byte, error) { return json.Marshal(&s.p) }

// UnmarshalJSON decodes a state written by MarshalJSON and checks it is
// consistent, so a corrupt or hand-edited record is refused rather than
// acted on.
func (s *State) UnmarshalJSON(data []byte) error {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("decode rollout state: %w", err)
	}
	if err := p.check(); err != nil {
		return fmt.Errorf("decode rollout state: %w", err)
	}
	*s = State{p: p}
	s.rebuild()
	return nil
}

func (p *persisted) check() error {
	if p.Format != stateFormat {
		return fmt.Errorf("format %d is not %d", p.Format, stateFormat)
	}
	if err := p.Plan.Validate(); err != nil {
		return err
	}
	switch p.Status {
	case StatusRunning, StatusHalted, StatusCancelled, StatusCompleted, StatusRollingBack, StatusRolledBack, StatusRollbackFailed:
	default:
		return fmt.Errorf("unknown status %q", p.Status)
	}
	n := len(p.Plan.Rings)
	if p.Wave < 0 || p.Wave >= n || len(p.Waves) != n || len(p.Health) != n {
		return fmt.Errorf("wave %d or wave records do not match %d rings", p.Wave, n)
	}
	if len(p.Hosts) != len(p.Plan.Hosts) {
		return fmt.Errorf("%d host records for %d planned hosts", len(p.Hosts), len(p.Plan.Hosts))
	}
	checks := map[string]bool{}
	for _, c := range p.Plan.HealthChecks {
		checks[c] = true
	}
	for r, m := range p.Health {
		for c := range m {
			if !checks[c] {
				return fmt.Errorf("health[%d]: unknown check %q", r, c)
			}
		}
		if m == nil {
			p.Health[r] = map[string]healthRecord{}
		}
	}
	for r, w := range p.Waves {
		// The current wave has passed once the rollout completed, also when
		// a rollback or halt came after that.
		if w.Passed && r > p.Wave {
			return fmt.Errorf("waves[%d] passed but the current wave is %d", r, p.Wave)
		}
	}
	if p.Pins == nil {
		p.Pins = map[string]string{}
	}
	for i, h := range p.Hosts {
		ring := p.Plan.Hosts[i].Ring
		if !h.Status.known() {
			return fmt.Errorf("hosts[%d]: unknown status %q", i, h.Status)
		}
		if h.Status != HostPending && h.Status != HostExcluded && ring > p.Wave {
			return fmt.Errorf("hosts[%d]: %s in ring %d after the current wave %d", i, h.Status, ring, p.Wave)
		}
		// A rollback may be asked for hosts of any earlier wave.
		if h.Status.unfinished() && h.Status != HostRollingBack && ring < p.Wave {
			return fmt.Errorf("hosts[%d]: %s in ring %d before the current wave %d", i, h.Status, ring, p.Wave)
		}
		switch h.Status {
		case HostInFlight:
			if h.Phase != PhaseInstall && h.Phase != PhaseReboot && h.Phase != PhaseRestart {
				return fmt.Errorf("hosts[%d]: in flight in phase %q", i, h.Phase)
			}
			if h.Phase == PhaseInstall && !h.Dispatched {
				return fmt.Errorf("hosts[%d]: in flight but install not dispatched", i)
			}
		case HostRollingBack:
			if h.Phase != PhaseRollback {
				return fmt.Errorf("hosts[%d]: rolling back in phase %q", i, h.Phase)
			}
		default:
			if h.Dispatched {
				return fmt.Errorf("hosts[%d]: %s with a job in flight", i, h.Status)
			}
		}
		if len(h.Targets) == 0 {
			return fmt.Errorf("hosts[%d]: no targets", i)
		}
	}
	return nil
}

// rebuild recomputes the derived indexes from s.p.
func (s *State) rebuild() {
	p := &s.p.Plan
	n := len(p.Rings)
	s.index = make(map[string]int, len(p.Hosts))
	s.pending = make([][]int, n)
	s.active = nil
	s.inFlight, s.failed = 0, 0
	s.unfinished = make([]int, n)
	s.tierLeft = map[tierKey]int{}
	s.groupTiers = map[groupKey][]int{}
	s.limits = make([]int, n)
	s.budget = p.budget()
	perRing := make([]int, n)
	for i, hp := range p.Hosts {
		s.index[hp.HostID] = i
		perRing[hp.Ring]++
		gk := groupKey{hp.Ring, hp.Group}
		if ts := s.groupTiers[gk]; !slices.Contains(ts, hp.Tier) {
			s.groupTiers[gk] = append(ts, hp.Tier)
		}
		h := &s.p.Hosts[i]
		if h.Failed {
			s.failed++
		}
		switch h.Status {
		case HostPending:
			s.pending[hp.Ring] = append(s.pending[hp.Ring], i)
		case HostInFlight:
			s.inFlight++
			s.active = append(s.active, i)
		case HostRollingBack:
			s.active = append(s.active, i)
		}
		if h.Status.unfinished() {
			s.unfinished[hp.Ring]++
			s.tierLeft[tierKey{hp.Ring, hp.Group, hp.Tier}]++
		}
	}
	for _, ts := range s.groupTiers {
		slices.Sort(ts)
	}
	for r := range n {
		s.limits[r] = p.batchLimit(perRing[r])
	}
	s.ringHosts = perRing
}

// OutstandingSince is the earliest time a job now out was handed out, and
// false when no job is out. A caller looking for results not yet applied
// need look only at jobs created since then.
func (s *State) OutstandingSince() (time.Time, bool) {
	var first time.Time
	found := false
	for _, i := range s.active {
		h := &s.p.Hosts[i]
		if h.Dispatched && (!found || h.DispatchedAt.Before(first)) {
			first, found = h.DispatchedAt, true
		}
	}
	return first, found
}

// setStatus moves host i to status st, keeping the derived counts right.
func (s *State) setStatus(i int, st HostStatus) {
	h := &s.p.Hosts[i]
	hp := &s.p.Plan.Hosts[i]
	old := h.Status
	if old == st {
		return
	}
	if old == HostInFlight {
		s.inFlight--
	}
	if st == HostInFlight {
		s.inFlight++
	}
	wasActive := old == HostInFlight || old == HostRollingBack
	isActive := st == HostInFlight || st == HostRollingBack
	if wasActive && !isActive {
		if k, ok := slices.BinarySearch(s.active, i); ok {
			s.active = slices.Delete(s.active, k, k+1)
		}
	} else if isActive && !wasActive {
		k, _ := slices.BinarySearch(s.active, i)
		s.active = slices.Insert(s.active, k, i)
	}
	tk := tierKey{hp.Ring, hp.Group, hp.Tier}
	if old.unfinished() && !st.unfinished() {
		s.unfinished[hp.Ring]--
		s.tierLeft[tk]--
	} else if !old.unfinished() && st.unfinished() {
		s.unfinished[hp.Ring]++
		s.tierLeft[tk]++
	}
	h.Status = st
}

// settle records that host i finished (for now) at t.
func (s *State) settle(i int, st HostStatus, t time.Time, detail string) {
	h := &s.p.Hosts[i]
	s.setStatus(i, st)
	h.Dispatched = false
	h.Phase = ""
	h.FinishedAt = t
	if detail != "" {
		h.Detail = detail
	}
	w := &s.p.Waves[s.p.Plan.Hosts[i].Ring]
	if t.After(w.FinishedAt) {
		w.FinishedAt = t
	}
}

// Summary is a snapshot of a rollout's progress.
type Summary struct {
	Status     Status
	Reason     string // why it halted or was cancelled
	Wave       int    // index of the current ring
	Ring       string // name of the current ring
	Hosts      int
	Pending    int
	InFlight   int // hosts with an install, reboot or restart under way
	Succeeded  int
	Failed     int // hosts counted against the budget
	RolledBack int
	Budget     int // failures tolerated
	BatchLimit int // in-flight cap of the current wave
	// RollingBack counts hosts whose rollback is asked for or under way.
	RollingBack int
	// RollbackFailed names the hosts whose rollback failed or timed out.
	RollbackFailed []string
	// Excluded counts hosts whose job could not be built (see HostView.Detail).
	Excluded int
	// Held: an operator halted the rollout; no job at all goes out.
	Held bool
	// Waves counts the rings that have hosts; empty rings are skipped and
	// are not waves. WaveNumber is the current ring's 1-based position
	// among them.
	Waves      int
	WaveNumber int
}

// Summary reports the rollout's progress.
func (s *State) Summary() Summary {
	sum := Summary{
		Status: s.p.Status, Reason: s.p.Reason, Wave: s.p.Wave, Ring: s.p.Plan.Rings[s.p.Wave],
		Hosts: len(s.p.Hosts), InFlight: s.inFlight, Failed: s.failed,
		Budget: s.budget, BatchLimit: s.limits[s.p.Wave], Held: s.p.Held,
	}
	for r, n := range s.ringHosts {
		if n > 0 {
			sum.Waves++
			if r <= s.p.Wave {
				sum.WaveNumber++
			}
		}
	}
	for i, h := range s.p.Hosts {
		switch h.Status {
		case HostPending:
			sum.Pending++
		case HostSucceeded:
			sum.Succeeded++
		case HostRolledBack:
			sum.RolledBack++
		case HostRollingBack:
			sum.RollingBack++
		case HostRollbackFailed:
			sum.RollbackFailed = append(sum.RollbackFailed, s.p.Plan.Hosts[i].HostID)
		case HostExcluded:
			sum.Excluded++
		}
	}
	return sum
}

// HostView is one host's record.
type HostView struct {
	HostID       string
	Ring         int
	Group        string
	Tier         int
	Status       HostStatus
	Phase        Phase // current phase while in flight or rolling back
	Dispatched   bool  // the current phase's job is out
	DispatchedAt time.Time
	Deadline     time.Time // zero unless a job is out
	FinishedAt   time.Time
	Failed       bool
	Detail       string
	Targets      []Target // the versions the host gets (pinned once dispatched)
}

// Host reports one host's record.
func (s *State) Host(id string) (HostView, bool) {
	i, ok := s.index[id]
	if !ok {
		return HostView{}, false
	}
	return s.hostView(i), true
}

func (s *State) hostView(i int) HostView {
	h, hp := &s.p.Hosts[i], &s.p.Plan.Hosts[i]
	v := HostView{
		HostID: hp.HostID, Ring: hp.Ring, Group: hp.Group, Tier: hp.Tier,
		Status: h.Status, Phase: h.Phase, Dispatched: h.Dispatched, DispatchedAt: h.DispatchedAt,
		FinishedAt: h.FinishedAt, Failed: h.Failed, Detail: h.Detail, Targets: slices.Clone(h.Targets),
	}
	if h.Dispatched {
		v.Deadline = h.DispatchedAt.Add(s.p.Plan.JobTimeout)
	}
	return v
}

// Pin is a package version fixed by its first dispatch.
type Pin struct {
	Platform, Name, Arch, Version string
}

// Pins lists the pinned versions, sorted.
func (s *State) Pins() []Pin {
	var out []Pin
	for i, hp := range s.p.Plan.Hosts {
		for _, t := range s.p.Hosts[i].Targets {
			if v, ok := s.p.Pins[pinKey(hp.Platform, t)]; ok {
				p := Pin{hp.Platform, t.Name, t.Arch, v}
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Pin) int {
		return cmp.Or(cmp.Compare(a.Platform, b.Platform), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch))
	})
	return out
}
