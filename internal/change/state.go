package change

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// State is where a change is in its lifecycle. The values are stored; the
// ones that existed before this package keep their spelling.
type State string

// States of a change.
const (
	Draft                 State = "draft"                   // being written; nobody has been asked
	PendingApproval       State = "pending-approval"        // submitted; waits for an approver
	Approved              State = "approved"                // approved; started by hand
	Scheduled             State = "scheduled"               // approved; the scheduler starts it at its time or window
	Running               State = "running"                 // the engine dispatches jobs
	Halted                State = "halted"                  // no new jobs until someone resumes it
	RollingBack           State = "rolling-back"            // forward dispatch stopped; touched hosts go back
	RolledBack            State = "rolled-back"             // every rolled-back host is at its recorded versions
	RollbackFailed        State = "rollback-failed"         // a host's rollback failed; the event names it
	AwaitingSignOff       State = "awaiting-signoff"        // every host verified; the groups' stakeholders are asked
	Completed             State = "completed"               // every group signed off ok
	CompletedWithProblems State = "completed-with-problems" // every group signed off, at least one with a problem
	Rejected              State = "rejected"                // an approver said no
	Cancelled             State = "cancelled"               // withdrawn before it started
)

// States lists every state, in lifecycle order.
func States() []State {
	return []State{Draft, PendingApproval, Approved, Scheduled, Running, Halted, RollingBack, RolledBack,
		RollbackFailed, AwaitingSignOff, Completed, CompletedWithProblems, Rejected, Cancelled}
}

// Action is something a person or the engine does to a change.
type Action string

// Actions.
const (
	Submit         Action = "submit"
	Approve        Action = "approve"
	Reject         Action = "reject"
	Edit           Action = "edit"
	Cancel         Action = "cancel"
	Start          Action = "start"
	Halt           Action = "halt"
	Resume         Action = "resume"
	RollbackHost   Action = "rollback-host"
	RollbackWave   Action = "rollback-wave"
	RollbackAll    Action = "rollback-all"
	EmergencyStop  Action = "emergency-stop"
	Release        Action = "release" // the emergency stop is released; halted changes stay halted
	SignOffOK      Action = "signoff-ok"
	SignOffProblem Action = "signoff-problem"
	// Engine events: what the rollout engine's summary says happened.
	EngineProgress       Action = "engine-progress"
	EngineDone           Action = "engine-done"
	EngineHalted         Action = "engine-halted" // failure budget exceeded
	EngineRolledBack     Action = "engine-rolled-back"
	EngineRollbackFailed Action = "engine-rollback-failed"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{Submit, Approve, Reject, Edit, Cancel, Start, Halt, Resume, RollbackHost, RollbackWave, RollbackAll,
		EmergencyStop, Release, SignOffOK, SignOffProblem, EngineProgress, EngineDone, EngineHalted, EngineRolledBack,
		EngineRollbackFailed}
}

// Role is an actor's global role (the server's roles), or System for the
// scheduler and the rollout engine.
type Role string

// Roles.
const (
	RoleAdmin       Role = "admin"
	RoleSecurity    Role = "security"
	RoleOperator    Role = "operator"
	RoleApprover    Role = "approver"
	RoleStakeholder Role = "stakeholder"
	RoleAuditor     Role = "auditor"
	RoleSystem      Role = "system" // the scheduler and the engine loop
)

// Team roles that count for approval (as in the organisation's members).
const (
	teamApprover = "approver"
	teamSecurity = "security"
)

// Change is what Decide needs to know about a change.
type Change struct {
	ID      string
	State   State
	Author  string
	Editors []string // everyone who edited it since it was created
	// Teams own the change's target groups (each group's team).
	Teams []string
	// Stakeholders maps each target group to its stakeholder.
	Stakeholders map[string]string
	// SignOffs are the verdicts recorded so far: group → ok.
	SignOffs map[string]bool
	// Digest is the content digest of the stored plan; ApprovedDigest the
	// one the approval recorded ("" when not approved).
	Digest         string
	ApprovedDigest string
	ApprovedBy     string
	// AutoApproval names the auto-approval rule that approves the change at
	// submission ("" when none does).
	AutoApproval string
	// Scheduled says the change names a start (a time or the next window),
	// so an approval schedules it.
	Scheduled bool
	// EmergencyStop says the emergency stop is in force.
	EmergencyStop bool
}

// Actor is who acts.
type Actor struct {
	Name string
	Role Role
	// Teams maps a team to the actor's role in it (the organisation's
	// membership).
	Teams map[string]string
}

// Request is an action with its arguments.
type Request struct {
	Action Action
	Group  string // sign-offs: the group signed off for
	Reason string // free text for the event (a halt's reason, the hosts rolled back, ...)
}

// Decision is what an allowed action does to a change.
type Decision struct {
	From, To State
	// Event is the history line to store with the transition.
	Event string
	// ApprovedBy and ApprovedDigest are set when the action approves the
	// change (by a person or an auto-approval rule).
	ApprovedBy     string
	ApprovedDigest string
	At             time.Time
	// VoidsApproval: the stored approval must be cleared.
	VoidsApproval bool
	// AddEditor: the actor joins the change's editors.
	AddEditor bool
}

// Error is a refused action. Its message says what is wrong and what to
// do; Kind is one of the sentinels below, for errors.Is.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Kinds of refusal; callers map them (forbidden → 403, the others → 409).
var (
	ErrWrongState    = errors.New("not allowed in this state")
	ErrForbidden     = errors.New("not allowed for this actor")
	ErrPrecondition  = errors.New("precondition not met")
	ErrUnknownAction = errors.New("unknown action")
)

// Apply records an allowed decision on c: the new state, the approval it
// grants or voids, and the editor it adds. who is the actor's name.
func (c *Change) Apply(d Decision, who string) {
	c.State = d.To
	if d.ApprovedDigest != "" {
		c.ApprovedBy, c.ApprovedDigest = d.ApprovedBy, d.ApprovedDigest
	}
	if d.VoidsApproval {
		c.ApprovedBy, c.ApprovedDigest = "", ""
	}
	if d.AddEditor && who != c.Author && !slices.Contains(c.Editors, who) {
		c.Editors = append(c.Editors, who)
	}
}
