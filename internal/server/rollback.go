package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// Change states of a whole-change rollback (the engine's statuses of the
// same names).
const (
	ChangeRollingBack    = "rolling-back"    // forward dispatch stopped; rollbacks under way
	ChangeRolledBack     = "rolled-back"     // every host that installed was rolled back
	ChangeRollbackFailed = "rollback-failed" // the rollback of the hosts the change view names failed
)

// jobGate is what the agent endpoint may hand out: jobs of running
// changes, rollbacks of halted and rolling-back changes (rollbacks are
// repairs; an operator's halt holds them in the engine and withdraws those
// waiting), and nothing while the emergency stop is in force.
func jobGate() store.JobGate {
	return store.JobGate{
		Deliver:     []string{ChangeRunning},
		RollbacksIn: []string{ChangeHalted, ChangeRollingBack},
		StopFlag:    flagEmergencyStop,
	}
}

// withdrawsJobs says whether writing a change that moves from state before
// to after withdraws its jobs not yet delivered, in the same transaction:
// a halt, a cancellation and a whole-change rollback stop what was waiting
// to go forward. The engine learns of each withdrawal at its next step and
// decides again after a resume.
func withdrawsJobs(before, after string) bool {
	if before == after {
		return false
	}
	return after == ChangeHalted || after == ChangeCancelled || after == ChangeRollingBack
}

// JobOut is a job a host received and has not reported yet: after a halt
// or emergency stop, these still run to their end.
type JobOut struct {
	HostID      string     `json:"host_id"`
	Hostname    string     `json:"hostname"`
	Phase       string     `json:"phase"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// jobsOut lists the change's delivered jobs without a result, with the
// hosts' names.
func (s *Server) jobsOut(ctx context.Context, changeID string) ([]JobOut, error) {
	jobs, err := s.store.OutJobs(ctx, changeID)
	if err != nil {
		return nil, fmt.Errorf("jobs out of change %s: %w", changeID, err)
	}
	out := make([]JobOut, 0, len(jobs))
	for _, j := range jobs {
		o := JobOut{HostID: j.HostID, Phase: j.Phase, DeliveredAt: j.DeliveredAt}
		if h, err := s.store.GetHost(ctx, j.HostID); err == nil {
			o.Hostname = h.Hostname
		}
		out = append(out, o)
	}
	return out, nil
}

// decide runs the engine at now and turns its actions into signed jobs. A host whose job cannot be built or signed
// (its data changed after planning, for example a hostile architecture
// string) does not block the others: an install is excluded from the
// rollout with the reason, a reboot, restart or rollback fails with it,
// and the engine is asked again, so the host's place in the batch goes to
// the next one.
func (s *Server) decide(ctx context.Context, c *store.Change, st *rollout.State, now time.Time) ([]store.Job, []string, error) {
	var plan *rollout.Plan // decoded only for a rollback
	var jobs []store.Job
	var events []string
	// Each refusal takes a host out of the running for good, so this ends.
	for {
		refused := 0
		for _, a := range st.Step(now) {
			switch a.Kind {
			case rollout.ActDispatch, rollout.ActReboot, rollout.ActRestart, rollout.ActRollback:
			default:
				continue // the change's state follows the engine's status after the step
			}
			job, why, err := s.buildJob(ctx, c, &plan, a)
			if err != nil {
				return nil, nil, err
			}
			if why == "" {
				job.ID, job.HostID, job.ChangeID = jobID(c.ID, a.HostID, string(a.Phase)), a.HostID, c.ID
				job.NotBefore, job.Expires = now.Add(-time.Minute), a.Deadline
				trial := job
				trial.Seq = 1
				if _, err := protocol.SignJob(s.jobKey, trial); err != nil {
					why = err.Error()
				}
			}
			if why != "" {
				refused++
				events = append(events, s.refuseJob(st, a, now, why))
				continue
			}
			jobs = append(jobs, store.Job{ID: job.ID, ChangeID: c.ID, HostID: a.HostID, Phase: string(a.Phase), Sign: func(seq uint64) ([]byte, error) {
				j := job
				j.Seq = seq
				env, err := protocol.SignJob(s.jobKey, j)
				if err != nil {
					return nil, err
				}
				return json.Marshal(env)
			}})
			events = append(events, fmt.Sprintf("%s job for %s", a.Phase, a.HostID))
		}
		if refused == 0 {
			break
		}
	}
	return jobs, events, nil
}

// buildJob is the unsigned job for a; why is not empty when it cannot be
// built.
func (s *Server) buildJob(ctx context.Context, c *store.Change, plan **rollout.Plan, a rollout.Action) (protocol.Job, string, error) {
	if v := agentReleaseOf(c); v != "" {
		if a.Kind != rollout.ActDispatch {
			return protocol.Job{}, fmt.Sprintf("an agent update has no %s job; roll out an older release signed with --allow-downgrade instead", a.Phase), nil
		}
		return s.agentUpdateJob(ctx, v, a.HostID)
	}
	switch a.Kind {
	case rollout.ActDispatch:
		job := protocol.Job{Action: protocol.ActionInstall}
		for _, t := range a.Targets {
			job.Packages = append(job.Packages, protocol.JobPackage{Name: t.Name, Arch: t.Arch, Version: t.Version})
		}
		return job, "", nil
	case rollout.ActReboot:
		return protocol.Job{Action: protocol.ActionReboot}, "", nil
	case rollout.ActRestart:
		// No unit names: the agent restarts what its own detection finds.
		return protocol.Job{Action: protocol.ActionRestartServices}, "", nil
	}
	prev, err := s.previousVersions(ctx, c.ID, a.HostID)
	if err != nil {
		return protocol.Job{}, "", err
	}
	if *plan == nil {
		*plan = new(rollout.Plan)
		if err := json.Unmarshal(c.Plan, *plan); err != nil {
			return protocol.Job{}, "", fmt.Errorf("decode plan of change %s: %w", c.ID, err)
		}
	}
	job := protocol.Job{Action: protocol.ActionInstall, Rollback: true}
	for _, t := range hostTargets(**plan, a.HostID) {
		v, ok := prev[t.Name+":"+t.Arch]
		if !ok {
			v, ok = prev[t.Name]
		}
		if ok && v != "" {
			job.Packages = append(job.Packages, protocol.JobPackage{Name: t.Name, Arch: t.Arch, Version: v})
		}
	}
	if len(job.Packages) == 0 {
		return job, "no recorded previous versions (the host never reported its install)", nil
	}
	return job, "", nil
}

// refuseJob tells the engine that a's job could not be made and returns
// the event saying so.
func (s *Server) refuseJob(st *rollout.State, a rollout.Action, now time.Time, why string) string {
	var err error
	if a.Kind == rollout.ActDispatch {
		err = st.Exclude(now, a.HostID, "its job cannot be built: "+why)
	} else {
		err = st.HostResult(now, a.HostID, a.Phase, false, nil, "job cannot be built: "+why)
	}
	if err != nil {
		s.log.Error("engine: refusing a job", "host", a.HostID, "phase", a.Phase, "err", err)
	}
	if a.Kind == rollout.ActDispatch {
		return fmt.Sprintf("%s excluded: its job cannot be built: %s", a.HostID, why)
	}
	return fmt.Sprintf("%s job for %s cannot be built: %s", a.Phase, a.HostID, why)
}

// stepStates are the change states the engine loop steps.
var stepStates = []string{ChangeRunning, ChangeHalted, ChangeRollingBack}
