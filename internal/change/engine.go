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
// A whole-change rollback ends when the engine says rolled-back or
// rollback-failed (naming the hosts whose rollback failed). With an engine
// that has no rollback statuses, a rolling-back change ends once no host is
// rolling back or has a job out. A rolling-back change never maps to
// EngineDone, so a rollback cannot end in a success state.
func EngineEvent(cur State, st *rollout.State, hostIDs []string) (Action, string) {
	sum := st.Summary()
	failed := func() string {
		var ids []string
		for _, id := range hostIDs {
			if h, ok := st.Host(id); ok && h.Status == rollout.HostRollbackFailed {
				ids = append(ids, id)
			}
		}
		return "the rollback of " + strings.Join(ids, ", ") + " failed"
	}
	switch sum.Status {
	case engineRolledBack:
		return EngineRolledBack, "every touched host is back at its recorded versions"
	case engineRollbackFailed:
		return EngineRollbackFailed, failed()
	case engineRollingBack:
		return EngineProgress, ""
	}
	if cur == RollingBack {
		anyFailed := false
		for _, id := range hostIDs {
			h, ok := st.Host(id)
			if !ok {
				continue
			}
			if h.Status == rollout.HostRollingBack || h.Dispatched {
				return EngineProgress, ""
			}
			anyFailed = anyFailed || h.Status == rollout.HostRollbackFailed
		}
		if anyFailed {
			return EngineRollbackFailed, failed()
		}
		return EngineRolledBack, "every touched host is back at its recorded versions"
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
		// An engine with a whole-change rollback does it itself, including
		// the hosts in flight when they report.
		if all, ok := any(st).(interface {
			RollBackAll(time.Time, string) error
		}); ok {
			return asPrecondition(all.RollBackAll(now, why))
		}
		fallthrough
	case RollbackHost, RollbackWave:
		if len(hosts) == 0 && req.Action != RollbackAll {
			return fmt.Errorf("no host named has finished an install; nothing to roll back: %w", ErrPrecondition)
		}
		if err := st.RollBack(now, why, hosts...); err != nil {
			return asPrecondition(err)
		}
		if st.Summary().Status == rollout.StatusHalted {
			return nil // the engine halted itself for the rollback
		}
		if err := st.Halt(now, "rollback "+why); err != nil && !errors.Is(err, rollout.ErrFinished) {
			return err
		}
	}
	return nil
}

func asPrecondition(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", err, ErrPrecondition)
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
