package change

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
)

// Engine statuses the rollout engine reports once a whole-change rollback
// settles (rollout.Summary.Status). They are spelled out here so this
// mapping also reads engines that do not have them yet, and then derives
// the outcome from the hosts.
const (
	engineRollingBack    rollout.Status = "rolling-back"
	engineRolledBack     rollout.Status = "rolled-back"
	engineRollbackFailed rollout.Status = "rollback-failed"
)

// EngineEvent maps the rollout engine's state, after a step, to the engine
// action to Decide for a change in state cur, with its reason. It is the
// one place where engine outcomes become change transitions.
//
// A change that is rolling back ends only when no host is rolling back or
// has a job out: rolled-back, or rollback-failed naming the hosts whose
// rollback failed. It never maps to EngineDone, so a rollback cannot end
// in a success state.
func EngineEvent(cur State, st *rollout.State, hostIDs []string) (Action, string) {
	sum := st.Summary()
	if cur == RollingBack || sum.Status == engineRolledBack || sum.Status == engineRollbackFailed || sum.Status == engineRollingBack {
		var failed []string
		for _, id := range hostIDs {
			h, ok := st.Host(id)
			if !ok {
				continue
			}
			if h.Status == rollout.HostRollingBack || h.Dispatched {
				return EngineProgress, ""
			}
			if h.Status == rollout.HostRollbackFailed {
				failed = append(failed, id)
			}
		}
		if cur != RollingBack && sum.Status != engineRolledBack && sum.Status != engineRollbackFailed {
			return EngineProgress, ""
		}
		if len(failed) > 0 {
			return EngineRollbackFailed, "the rollback of " + strings.Join(failed, ", ") + " failed"
		}
		return EngineRolledBack, "every rolled-back host reported its recorded versions"
	}
	switch {
	case sum.Status == rollout.StatusCompleted:
		return EngineDone, ""
	case sum.Status == rollout.StatusHalted && cur == Running:
		return EngineHalted, sum.Reason
	}
	return EngineProgress, ""
}

// RollbackHosts are the hosts a rollback action names: for RollbackAll
// every host whose install finished (succeeded or failed), for
// RollbackWave those of ring wave, for RollbackHost the given ones.
func RollbackHosts(st *rollout.State, hostIDs []string, a Action, wave int, given []string) []string {
	if a == RollbackHost {
		return given
	}
	var out []string
	for _, id := range hostIDs {
		h, ok := st.Host(id)
		if !ok || (a == RollbackWave && h.Ring != wave) {
			continue
		}
		if h.Status == rollout.HostSucceeded || h.Status == rollout.HostFailed {
			out = append(out, id)
		}
	}
	return out
}

// Drive carries a decided operator action into the engine's state: a halt
// or emergency stop halts it; a resume resumes it; a rollback rolls back
// hosts and halts forward dispatch, so no new install goes out while hosts
// go back. Other actions leave the engine alone.
func Drive(st *rollout.State, d Decision, req Request, by string, hosts []string, now time.Time) error {
	switch req.Action {
	case Halt, EmergencyStop:
		if d.From != Running {
			return nil
		}
		return st.Halt(now, d.Event)
	case Resume:
		return st.Resume(now, by)
	case RollbackHost, RollbackWave, RollbackAll:
		if len(hosts) == 0 && d.From != RollingBack {
			return fmt.Errorf("no host of this change has finished an install; nothing to roll back (halt it instead): %w", ErrPrecondition)
		}
		if err := st.RollBack(now, "requested by "+by, hosts...); err != nil {
			return fmt.Errorf("%w: %w", err, ErrPrecondition)
		}
		if err := st.Halt(now, "rolling back"); err != nil && !errors.Is(err, rollout.ErrFinished) {
			return err
		}
	}
	return nil
}

// Waiting says what a change in state cur waits for, for `changes show`:
// an approval, its start, the engine's own reason (a window until a time,
// soak until a time, health checks), or the groups still to sign off.
// engineReason is the reason of the engine's last wait ("" when none).
func Waiting(c Change, startAt time.Time, engineReason string) string {
	switch c.State {
	case Draft:
		return "submission by its author"
	case PendingApproval:
		return "an approval by an approver of team " + strings.Join(c.Teams, " and ")
	case Approved:
		return "an operator to start it"
	case Scheduled:
		if startAt.IsZero() {
			return "its groups' next maintenance window (none is planned)"
		}
		return "its start at " + startAt.UTC().Format(time.RFC3339)
	case Running, RollingBack:
		if c.EmergencyStop {
			return "the release of the emergency stop"
		}
		return engineReason
	case Halted:
		if c.EmergencyStop {
			return "the release of the emergency stop, then a resume"
		}
		return "a resume or a rollback"
	case AwaitingSignOff:
		var missing []string
		for g := range c.Stakeholders {
			if _, ok := c.SignOffs[g]; !ok {
				missing = append(missing, g+" ("+c.Stakeholders[g]+")")
			}
		}
		slices.Sort(missing)
		return "sign-offs of " + strings.Join(missing, ", ")
	}
	return ""
}
