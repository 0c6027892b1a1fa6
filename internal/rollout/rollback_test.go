package rollout

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func run(t *testing.T, s *State, now time.Time) []Action {
	t.Helper()
	return s.Step(now)
}

func TestWholeRollbackStopsForwardDispatchAndWaitsForHostsInFlight(t *testing.T) {
	s := mustNew(t, basePlan(4)) // batch 2
	now := t0
	if got := kinds(run(t, s, now), ActDispatch); !slices.Equal(got, []string{"ha", "hb"}) {
		t.Fatalf("dispatched %v, want ha hb", got)
	}
	now = now.Add(time.Minute)
	ok(t, s, now, "ha", PhaseInstall)
	if err := s.RollBackAll(now, "by alice"); err != nil {
		t.Fatal(err)
	}
	acts := run(t, s, now)
	if got := kinds(acts, ActRollback); !slices.Equal(got, []string{"ha"}) {
		t.Fatalf("rollbacks %v, want ha", got)
	}
	if got := kinds(acts, ActDispatch); len(got) > 0 {
		t.Fatalf("dispatched %v after a whole rollback", got)
	}
	if last := acts[len(acts)-1]; last.Kind != ActRollingBack {
		t.Fatalf("last action %s, want rolling-back", last.Kind)
	}
	// hb was in flight: it gets its rollback when it reports.
	now = now.Add(time.Minute)
	ok(t, s, now, "hb", PhaseInstall)
	acts = run(t, s, now)
	if got := kinds(acts, ActRollback); !slices.Equal(got, []string{"hb"}) {
		t.Fatalf("rollbacks %v, want hb", got)
	}
	ok(t, s, now, "ha", PhaseRollback)
	if err := s.HostResult(now, "hb", PhaseRollback, false, nil, "dpkg error"); err != nil {
		t.Fatal(err)
	}
	acts = run(t, s, now)
	if last := acts[len(acts)-1]; last.Kind != ActRollbackFailed || last.Reason != "rollback failed on 1 hosts: hb" {
		t.Fatalf("last action %+v, want rollback-failed naming hb", last)
	}
	sum := s.Summary()
	if sum.Status != StatusRollbackFailed || !slices.Equal(sum.RollbackFailed, []string{"hb"}) || sum.RolledBack != 1 || sum.Pending != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if err := s.Resume(now, "bob"); !errors.Is(err, ErrNotHalted) {
		t.Fatalf("resume after the rollback: %v", err)
	}
}

func TestWholeRollbackOfACompletedRollout(t *testing.T) {
	s := mustNew(t, basePlan(2))
	now := t0
	run(t, s, now)
	ok(t, s, now, "ha", PhaseInstall)
	ok(t, s, now, "hb", PhaseInstall)
	if last := run(t, s, now.Add(time.Minute)); last[len(last)-1].Kind != ActCompleted {
		t.Fatalf("not completed: %+v", last)
	}
	now = now.Add(time.Hour)
	if err := s.RollBackAll(now, "by alice"); err != nil {
		t.Fatal(err)
	}
	if got := kinds(run(t, s, now), ActRollback); !slices.Equal(got, []string{"ha", "hb"}) {
		t.Fatalf("rollbacks %v, want ha hb", got)
	}
	ok(t, s, now, "ha", PhaseRollback)
	ok(t, s, now, "hb", PhaseRollback)
	acts := run(t, s, now)
	if acts[len(acts)-1].Kind != ActRolledBack || s.Summary().Status != StatusRolledBack || s.Summary().RolledBack != 2 {
		t.Fatalf("after both rollbacks: %+v, %+v", acts, s.Summary())
	}
	if err := s.RollBackAll(now, "again"); !errors.Is(err, ErrFinished) {
		t.Fatalf("second rollback: %v", err)
	}
}

func TestHostRollbackHaltsTheRolloutForAPersonToDecide(t *testing.T) {
	s := mustNew(t, basePlan(4))
	now := t0
	run(t, s, now)
	ok(t, s, now, "ha", PhaseInstall)
	if err := s.RollBack(now, "by alice", "ha"); err != nil {
		t.Fatal(err)
	}
	acts := run(t, s, now)
	if got := kinds(acts, ActRollback); !slices.Equal(got, []string{"ha"}) || len(kinds(acts, ActDispatch)) > 0 {
		t.Fatalf("actions %+v, want only ha's rollback", acts)
	}
	if sum := s.Summary(); sum.Status != StatusHalted {
		t.Fatalf("status %s after a host rollback, want halted", sum.Status)
	}
	if err := s.Resume(now, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := kinds(run(t, s, now), ActDispatch); !slices.Equal(got, []string{"hc"}) {
		t.Fatalf("after resume dispatched %v, want hc (hb still in flight)", got)
	}
}

func TestOperatorHaltHoldsRollbacksAndWithdrawnJobsGoOutAgainOnResume(t *testing.T) {
	p := basePlan(3)
	p.AutoRollback = true
	s := mustNew(t, p)
	now := t0
	run(t, s, now)
	if err := s.Halt(now, "by alice"); err != nil {
		t.Fatal(err)
	}
	// ha's job was delivered and fails; hb's job was withdrawn undelivered.
	if err := s.HostResult(now, "ha", PhaseInstall, false, nil, "apt failed"); err != nil {
		t.Fatal(err)
	}
	if err := s.Withdraw("hb", PhaseInstall); err != nil {
		t.Fatal(err)
	}
	for _, a := range run(t, s, now) {
		if a.HostID != "" {
			t.Fatalf("job %s for %s while halted by an operator", a.Kind, a.HostID)
		}
	}
	if h, _ := s.Host("hb"); h.Status != HostPending {
		t.Fatalf("withdrawn hb is %s, want pending", h.Status)
	}
	if err := s.Resume(now, "bob"); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("resume over budget: %v", err)
	}
	p.FailureBudget = 1
	s = mustNew(t, p)
	run(t, s, now)
	s.Halt(now, "by alice")
	s.HostResult(now, "ha", PhaseInstall, false, nil, "apt failed")
	s.Withdraw("hb", PhaseInstall)
	if err := s.Resume(now, "bob"); err != nil {
		t.Fatal(err)
	}
	acts := run(t, s, now)
	if got := kinds(acts, ActRollback); !slices.Equal(got, []string{"ha"}) {
		t.Fatalf("rollbacks after resume %v, want ha", got)
	}
	// Rollbacks do not count against the batch limit of 2.
	if got := kinds(acts, ActDispatch); !slices.Equal(got, []string{"hb", "hc"}) {
		t.Fatalf("installs after resume %v, want hb again and hc", got)
	}
}

func TestExcludedHostGetsNoJobAndDoesNotCountAsFailed(t *testing.T) {
	s := mustNew(t, basePlan(3))
	now := t0
	run(t, s, now)
	if err := s.Exclude(now, "ha", "architecture \"amd64 --force-all\" is not valid"); err != nil {
		t.Fatal(err)
	}
	if got := kinds(run(t, s, now), ActDispatch); !slices.Equal(got, []string{"hc"}) {
		t.Fatalf("dispatched %v, want hc in ha's place", got)
	}
	h, _ := s.Host("ha")
	if h.Status != HostExcluded || h.Failed || h.Detail != "excluded: architecture \"amd64 --force-all\" is not valid" {
		t.Fatalf("ha: %+v", h)
	}
	if sum := s.Summary(); sum.Failed != 0 || sum.Excluded != 1 || sum.Status != StatusRunning {
		t.Fatalf("summary %+v", sum)
	}
}

func TestEmptyRingsAreSkippedAndNotCounted(t *testing.T) {
	p := basePlan(2)
	p.Rings = []string{"canary", "pilot", "production"}
	p.Hosts[0].Ring, p.Hosts[1].Ring = 1, 1 // only pilot has hosts
	s := mustNew(t, p)
	if sum := s.Summary(); sum.Ring != "pilot" || sum.Waves != 1 || sum.WaveNumber != 1 {
		t.Fatalf("new rollout: ring %q, wave %d of %d; want pilot, 1 of 1", sum.Ring, sum.WaveNumber, sum.Waves)
	}
	run(t, s, t0)
	ok(t, s, t0, "ha", PhaseInstall)
	ok(t, s, t0, "hb", PhaseInstall)
	if acts := run(t, s, t0); acts[len(acts)-1].Kind != ActCompleted {
		t.Fatalf("not completed: %+v", acts)
	}
}
