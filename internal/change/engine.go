package change

import (
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
)

// EngineEvent maps the rollout engine's summary, after a step, to the
// engine action to Decide for a change in state cur, with its reason. It is
// the one place where engine outcomes become change transitions. A
// whole-change rollback ends only as rolled-back or rollback-failed (naming
// the hosts); the table refuses engine-done for a rolling-back change, so a
// rollback cannot end in a success state.
func EngineEvent(cur State, sum rollout.Summary) (Action, string) {
	switch sum.Status {
	case rollout.StatusRolledBack:
		return EngineRolledBack, "every touched host is back at its recorded versions"
	case rollout.StatusRollbackFailed:
		return EngineRollbackFailed, "the rollback of " + strings.Join(sum.RollbackFailed, ", ") + " failed"
	case rollout.StatusCompleted:
		return EngineDone, ""
	case rollout.StatusHalted:
		if cur == Running {
			return EngineHalted, sum.Reason
		}
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
// or emergency stop halts it; a resume resumes it; a host or wave rollback
// rolls those hosts back and halts the rollout so a person decides; a
// whole-change rollback stops forward dispatch for good and rolls back
// every touched host. Other actions leave the engine alone.
func Drive(st *rollout.State, d Decision, req Request, by string, hosts []string, now time.Time) error {
	why := "requested by " + by
	switch req.Action {
	case Halt, EmergencyStop:
		if d.From != Running {
			return nil
		}
		return st.Halt(now, d.Event)
	case Resume:
		return st.Resume(now, by)
	case RollbackAll:
		// The engine rolls back every touched host, and each host in
		// flight when it reports or times out.
		return asPrecondition(st.RollBackAll(now, why))
	case RollbackHost, RollbackWave:
		if len(hosts) == 0 {
			return refuse(ErrPrecondition, "no host named has finished an install; nothing to roll back")
		}
		// The engine halts the rollout with the rollback.
		return asPrecondition(st.RollBack(now, why, hosts...))
	}
	return nil
}

func asPrecondition(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: ErrPrecondition, Msg: err.Error()}
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
