package rollout

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// basePlan: n hosts in group "web", ring 0, always open, batch 2, budget 0.
func basePlan(n int) Plan {
	p := Plan{
		Rings: []string{"test"}, BatchSize: 2, JobTimeout: 30 * time.Minute,
		Windows: map[string][]Window{"web": {{t0.Add(-time.Hour), t0.Add(30 * 24 * time.Hour)}}},
	}
	for i := range n {
		p.Hosts = append(p.Hosts, HostPlan{
			HostID: "h" + string(rune('a'+i)), Group: "web",
			Targets: []Target{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1"}},
		})
	}
	return p
}

func mustNew(t *testing.T, p Plan) *State {
	t.Helper()
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kinds(acts []Action, k ActionKind) []string {
	var out []string
	for _, a := range acts {
		if a.Kind == k {
			out = append(out, a.HostID)
		}
	}
	return out
}

func ok(t *testing.T, s *State, now time.Time, host string, phase Phase) {
	t.Helper()
	if err := s.HostResult(now, host, phase, true, map[string]string{"openssl": "3.0.15-1"}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(p *Plan)
		field string
	}{
		{"no rings", func(p *Plan) { p.Rings = nil }, "rings"},
		{"batch size and percent", func(p *Plan) { p.BatchPercent = 10 }, "batch_size"},
		{"no batch", func(p *Plan) { p.BatchSize = 0 }, "batch_size"},
		{"negative budget", func(p *Plan) { p.FailureBudget = -1 }, "failure_budget"},
		{"zero timeout", func(p *Plan) { p.JobTimeout = 0 }, "job_timeout"},
		{"ring out of range", func(p *Plan) { p.Hosts[1].Ring = 3 }, "hosts[1].ring"},
		{"duplicate host", func(p *Plan) { p.Hosts[1].HostID = p.Hosts[0].HostID }, "hosts[1].host_id"},
		{"conflicting versions", func(p *Plan) { p.Hosts[1].Targets[0].Version = "3.0.16-1" }, "hosts[1].targets[0].version"},
		{"empty window", func(p *Plan) { p.Windows["web"] = []Window{{t0, t0}} }, `windows["web"][0]`},
		{"duplicate check", func(p *Plan) { p.HealthChecks = []string{"http", "http"} }, "health_checks[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePlan(2)
			tt.edit(&p)
			_, err := New(p)
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Path != tt.field {
				t.Fatalf("New: %v; want a problem at %s", err, tt.field)
			}
		})
	}
}

func TestDispatchOnlyWhenTheJobFitsTheWindow(t *testing.T) {
	p := basePlan(1)
	p.Windows["web"] = []Window{{t0, t0.Add(time.Hour)}, {t0.Add(24 * time.Hour), t0.Add(26 * time.Hour)}}
	tests := []struct {
		at   time.Time
		want bool
		wake time.Time
	}{
		{t0.Add(-time.Minute), false, t0},
		{t0.Add(31 * time.Minute), false, t0.Add(24 * time.Hour)}, // less than JobTimeout left
		{t0.Add(30 * time.Minute), true, time.Time{}},             // exactly fits
		{t0, true, time.Time{}},
		{t0.Add(2 * time.Hour), false, t0.Add(24 * time.Hour)},
	}
	for _, tt := range tests {
		s := mustNew(t, p)
		acts := s.Step(tt.at)
		if got := len(kinds(acts, ActDispatch)) == 1; got != tt.want {
			t.Errorf("at %s: dispatched %v, want %v", tt.at, got, tt.want)
		}
		if last := acts[len(acts)-1]; !tt.want && !last.WakeAt.Equal(tt.wake) {
			t.Errorf("at %s: wake at %s, want %s", tt.at, last.WakeAt, tt.wake)
		}
	}
}

func TestGroupWithoutWindowsNeverOpens(t *testing.T) {
	p := basePlan(1)
	p.Windows = nil
	s := mustNew(t, p)
	acts := s.Step(t0)
	if len(kinds(acts, ActDispatch)) != 0 || !strings.Contains(acts[len(acts)-1].Reason, "no usable window") {
		t.Fatalf("got %+v", acts)
	}
}

func TestClosingWindowPausesAndNextWindowResumesWhereItStopped(t *testing.T) {
	p := basePlan(4)
	p.Windows["web"] = []Window{{t0, t0.Add(time.Hour)}, {t0.Add(24 * time.Hour), t0.Add(25 * time.Hour)}}
	s := mustNew(t, p)
	first := kinds(s.Step(t0), ActDispatch)
	for _, h := range first {
		ok(t, s, t0.Add(20*time.Minute), h, PhaseInstall)
	}
	if got := kinds(s.Step(t0.Add(40*time.Minute)), ActDispatch); len(got) != 0 {
		t.Fatalf("dispatched %v with 20 minutes of window left", got)
	}
	second := kinds(s.Step(t0.Add(24*time.Hour)), ActDispatch)
	if strings.Join(first, ",") != "ha,hb" || strings.Join(second, ",") != "hc,hd" {
		t.Fatalf("first window %v, second %v", first, second)
	}
}

func TestLaterRingsGetThePinnedVersions(t *testing.T) {
	p := basePlan(2)
	p.Rings = []string{"test", "prod"}
	p.Hosts[1].Ring = 1
	s := mustNew(t, p)
	ok(t, s, t0, kinds(s.Step(t0), ActDispatch)[0], PhaseInstall)
	clamps, err := s.UpdateTargets("hb", []Target{{Name: "openssl", Arch: "amd64", Version: "3.0.16-1"}, {Name: "curl", Version: "8.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(clamps) != 1 || clamps[0].Pinned != "3.0.15-1" || clamps[0].Offered.Version != "3.0.16-1" {
		t.Fatalf("clamps %+v", clamps)
	}
	acts := s.Step(t0.Add(time.Minute))
	if len(acts) == 0 || acts[0].Kind != ActDispatch || acts[0].Targets[0].Version != "3.0.15-1" || acts[0].Targets[1].Version != "8.1" {
		t.Fatalf("prod got %+v", acts)
	}
	if _, err := s.UpdateTargets("hb", p.Hosts[1].Targets); !errors.Is(err, ErrNotPending) {
		t.Fatalf("UpdateTargets of a dispatched host: %v", err)
	}
}

func TestWrongInstalledVersionFailsTheHost(t *testing.T) {
	s := mustNew(t, basePlan(1))
	s.Step(t0)
	if err := s.HostResult(t0, "ha", PhaseInstall, true, map[string]string{"openssl:amd64": "3.0.14-1"}, ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Host("ha"); !h.Failed || !strings.Contains(h.Detail, "installed 3.0.14-1, want 3.0.15-1") {
		t.Fatalf("host %+v", h)
	}
}

func TestAtMostBatchSizeInFlight(t *testing.T) {
	p := basePlan(5)
	p.BatchSize, p.FailureBudget = 0, 0
	p.BatchPercent = 40 // of 5 hosts: 2
	s := mustNew(t, p)
	if got := kinds(s.Step(t0), ActDispatch); len(got) != 2 {
		t.Fatalf("dispatched %v", got)
	}
	ok(t, s, t0.Add(time.Minute), "ha", PhaseInstall)
	if got := kinds(s.Step(t0.Add(time.Minute)), ActDispatch); len(got) != 1 || got[0] != "hc" {
		t.Fatalf("then dispatched %v", got)
	}
}

func TestNoResultByTheDeadlineFails(t *testing.T) {
	p := basePlan(1)
	p.FailureBudget = 1
	s := mustNew(t, p)
	s.Step(t0)
	s.Step(t0.Add(29 * time.Minute))
	if h, _ := s.Host("ha"); h.Status != HostInFlight {
		t.Fatalf("before the deadline: %s", h.Status)
	}
	if err := s.HostResult(t0.Add(30*time.Minute), "ha", PhaseInstall, true, nil, ""); !errors.Is(err, ErrLate) {
		t.Fatalf("late result: %v", err)
	}
	s.Step(t0.Add(30 * time.Minute))
	if h, _ := s.Host("ha"); h.Status != HostFailed || !h.FinishedAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("after the deadline: %+v", h)
	}
}

func TestFailuresOverBudgetHalt(t *testing.T) {
	p := basePlan(6)
	p.BatchSize, p.FailureBudget = 3, 1
	s := mustNew(t, p)
	s.Step(t0)
	for _, h := range []string{"ha", "hb"} {
		if err := s.HostResult(t0, h, PhaseInstall, false, nil, "postinst failed"); err != nil {
			t.Fatal(err)
		}
	}
	acts := s.Step(t0.Add(time.Minute))
	if len(kinds(acts, ActDispatch)) != 0 || acts[len(acts)-1].Kind != ActHalted {
		t.Fatalf("got %+v", acts)
	}
	if sum := s.Summary(); sum.Failed > sum.Budget+p.BatchSize {
		t.Fatalf("failed %d beyond the bound", sum.Failed)
	}
	if err := s.Resume(t0, "bob"); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("Resume over budget: %v", err)
	}
}

func TestNextWaveWaitsForSoakAndHealthChecks(t *testing.T) {
	p := basePlan(2)
	p.Rings = []string{"test", "prod"}
	p.Hosts[1].Ring = 1
	p.Soak = time.Hour
	p.HealthChecks = []string{"http"}
	s := mustNew(t, p)
	s.Step(t0)
	if err := s.HealthResult(t0, 0, "http", true); err != nil { // before the wave finished: does not count
		t.Fatal(err)
	}
	ok(t, s, t0.Add(10*time.Minute), "ha", PhaseInstall)
	finished := t0.Add(10 * time.Minute)
	steps := []struct {
		name   string
		at     time.Time
		health bool
		want   bool
	}{
		{"during soak", finished.Add(59 * time.Minute), false, false},
		{"soaked, check from before the finish", finished.Add(time.Hour), false, false},
		{"soaked and checked", finished.Add(time.Hour), true, true},
	}
	for _, st := range steps {
		if st.health {
			if err := s.HealthResult(st.at, 0, "http", true); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(kinds(s.Step(st.at), ActDispatch)) == 1; got != st.want {
			t.Fatalf("%s: dispatched prod %v, want %v", st.name, got, st.want)
		}
	}
}

func TestFailedHealthCheckHaltsAndRollsBackTheWave(t *testing.T) {
	p := basePlan(2)
	p.AutoRollback = true
	p.HealthChecks = []string{"http"}
	s := mustNew(t, p)
	s.Step(t0)
	ok(t, s, t0, "ha", PhaseInstall)
	ok(t, s, t0, "hb", PhaseInstall)
	if err := s.HealthResult(t0.Add(time.Minute), 0, "http", false); err != nil {
		t.Fatal(err)
	}
	acts := s.Step(t0.Add(time.Minute))
	if got := strings.Join(kinds(acts, ActRollback), ","); got != "ha,hb" || acts[len(acts)-1].Kind != ActHalted {
		t.Fatalf("got %+v", acts)
	}
}

func TestRebootTiersRunOneAtATime(t *testing.T) {
	p := basePlan(4)
	p.BatchSize = 4
	p.Hosts[0].Tier, p.Hosts[1].Tier, p.Hosts[2].Tier = 1, 0, 1
	p.Hosts[3].Group = "db" // another group: its own tiers
	p.Hosts[3].Tier = 2
	p.Windows["db"] = p.Windows["web"]
	s := mustNew(t, p)
	if got := strings.Join(kinds(s.Step(t0), ActDispatch), ","); got != "hb,hd" {
		t.Fatalf("first: %s", got)
	}
	ok(t, s, t0, "hb", PhaseInstall)
	if got := strings.Join(kinds(s.Step(t0), ActDispatch), ","); got != "ha,hc" {
		t.Fatalf("second: %s", got)
	}
}

func TestRestartInsteadOfRebootWhenOnlyServicesNeedIt(t *testing.T) {
	p := basePlan(3)
	p.BatchSize = 3
	p.Hosts[0].RestartOnly = []string{"nginx"}
	p.Hosts[1].NeedsReboot = true
	p.Hosts[1].RestartOnly = []string{"nginx"} // a reboot restarts everything anyway
	s := mustNew(t, p)
	s.Step(t0)
	for _, h := range []string{"ha", "hb", "hc"} {
		ok(t, s, t0, h, PhaseInstall)
	}
	acts := s.Step(t0)
	if r, b := kinds(acts, ActRestart), kinds(acts, ActReboot); strings.Join(r, ",") != "ha" || strings.Join(b, ",") != "hb" {
		t.Fatalf("restart %v reboot %v", r, b)
	}
	if h, _ := s.Host("hc"); h.Status != HostSucceeded {
		t.Fatalf("hc: %s", h.Status)
	}
}

func TestHaltStopsDispatchAndResumeContinues(t *testing.T) {
	s := mustNew(t, basePlan(3))
	s.Step(t0)
	if err := s.Halt(t0, "alice pressed stop"); err != nil {
		t.Fatal(err)
	}
	ok(t, s, t0, "ha", PhaseInstall)
	if acts := s.Step(t0); len(kinds(acts, ActDispatch)) != 0 || acts[len(acts)-1].Kind != ActHalted {
		t.Fatalf("halted: %+v", acts)
	}
	if err := s.Resume(t0, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := kinds(s.Step(t0), ActDispatch); len(got) != 1 || got[0] != "hc" {
		t.Fatalf("after resume: %v", got)
	}
}

func TestRepeatedEventsAreRefusedWithoutChange(t *testing.T) {
	s := mustNew(t, basePlan(2))
	s.Step(t0)
	if again := kinds(s.Step(t0), ActDispatch); len(again) != 0 {
		t.Fatalf("second Step dispatched %v", again)
	}
	ok(t, s, t0, "ha", PhaseInstall)
	before, _ := json.Marshal(s)
	for _, err := range []error{
		s.HostResult(t0, "ha", PhaseInstall, true, map[string]string{"openssl": "3.0.15-1"}, ""),
		s.HostResult(t0, "zz", PhaseInstall, true, nil, ""),
		s.HostResult(t0, "hb", PhaseReboot, true, nil, ""),
	} {
		if !errors.Is(err, ErrNotInFlight) && !errors.Is(err, ErrUnknownHost) {
			t.Fatalf("got %v", err)
		}
	}
	if after, _ := json.Marshal(s); string(after) != string(before) {
		t.Fatal("refused events changed the state")
	}
}

func TestStateSurvivesJSON(t *testing.T) {
	p := basePlan(3)
	p.Hosts[0].NeedsReboot = true
	s := mustNew(t, p)
	s.Step(t0)
	ok(t, s, t0, "ha", PhaseInstall)
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	a, b := s.Step(t0.Add(time.Minute)), back.Step(t0.Add(time.Minute))
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Fatalf("after round trip:\n%s\n%s", ja, jb)
	}
	if err := json.Unmarshal([]byte(`{"format":1}`), &back); err == nil {
		t.Fatal("accepted an empty state")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
