package change

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// relation is who, relative to the change, may take an action, beyond the
// global role. A global admin passes every relation except independence.
type relation int

const (
	anyone relation = iota
	// authorOrEditor: the author or an editor.
	authorOrEditor
	// independentTeamApprover: neither the author nor an editor (admins
	// included), and an approver or security member of every owning team
	// (an admin outside them passes, recorded in the event).
	independentTeamApprover
	// someTeamApprover: an approver or security member of an owning team.
	someTeamApprover
	// ownerOrTeamMember: the author, an editor, or a member (any role) of
	// an owning team.
	ownerOrTeamMember
	// groupStakeholder: the stakeholder of the group signed off for.
	groupStakeholder
)

// precondition is a fact about the change an action needs.
type precondition int

const (
	none precondition = iota
	noEmergencyStop
	approvedPlanNoStop // the plan still has the approved digest, and no emergency stop
)

// Pseudo next states, resolved from the change's facts by Decide.
const (
	afterSubmit   State = "<after-submit>"   // pending approval, or approved/scheduled by an auto-approval rule
	afterApproval State = "<after-approval>" // scheduled when the change names a start, else approved
	afterSignOff  State = "<after-signoff>"  // awaiting until every group signed off; completed or completed-with-problems
)

type rule struct {
	from   State
	action Action
	to     State
	roles  []Role
	who    relation
	pre    precondition
}

var (
	writers   = []Role{RoleAdmin, RoleOperator, RoleSecurity} // may create changes
	runners   = []Role{RoleAdmin, RoleOperator}               // may run changes
	starters  = []Role{RoleAdmin, RoleOperator, RoleSystem}   // the scheduler starts scheduled changes
	approvers = []Role{RoleAdmin, RoleApprover}
	signers   = []Role{RoleAdmin, RoleStakeholder}
	engine    = []Role{RoleSystem}
)

// table is the change lifecycle: the only place that says which action is
// allowed in which state, for whom, and where it leads. A (state, action)
// pair not listed is refused.
var table = []rule{
	{Draft, Submit, afterSubmit, writers, authorOrEditor, none},
	{Draft, Edit, Draft, writers, anyone, none},
	{Draft, Cancel, Cancelled, writers, ownerOrTeamMember, none},

	{PendingApproval, Approve, afterApproval, approvers, independentTeamApprover, none},
	{PendingApproval, Reject, Rejected, approvers, someTeamApprover, none},
	{PendingApproval, Edit, PendingApproval, writers, anyone, none},
	{PendingApproval, Cancel, Cancelled, writers, ownerOrTeamMember, none},

	{Approved, Start, Running, starters, anyone, approvedPlanNoStop},
	{Approved, Edit, PendingApproval, writers, anyone, none},
	{Approved, Cancel, Cancelled, writers, ownerOrTeamMember, none},

	{Scheduled, Start, Running, starters, anyone, approvedPlanNoStop},
	{Scheduled, Edit, PendingApproval, writers, anyone, none},
	{Scheduled, Cancel, Cancelled, writers, ownerOrTeamMember, none},

	{Running, Halt, Halted, runners, anyone, none},
	{Running, RollbackHost, Halted, runners, anyone, none},
	{Running, RollbackWave, Halted, runners, anyone, none},
	{Running, RollbackAll, RollingBack, runners, anyone, none},
	{Running, EmergencyStop, Halted, runners, anyone, none},
	{Running, EngineProgress, Running, engine, anyone, none},
	{Running, EngineDone, AwaitingSignOff, engine, anyone, none},
	{Running, EngineHalted, Halted, engine, anyone, none},
	{Running, EngineRolledBack, RolledBack, engine, anyone, none},
	{Running, EngineRollbackFailed, RollbackFailed, engine, anyone, none},

	{Halted, Resume, Running, runners, anyone, noEmergencyStop},
	{Halted, RollbackHost, Halted, runners, anyone, none},
	{Halted, RollbackWave, Halted, runners, anyone, none},
	{Halted, RollbackAll, RollingBack, runners, anyone, none},
	{Halted, Release, Halted, runners, anyone, none},
	{Halted, EngineProgress, Halted, engine, anyone, none},
	{Halted, EngineRolledBack, RolledBack, engine, anyone, none},
	{Halted, EngineRollbackFailed, RollbackFailed, engine, anyone, none},

	{RollingBack, EmergencyStop, RollingBack, runners, anyone, none},
	{RollingBack, Release, RollingBack, runners, anyone, none},
	{RollingBack, EngineProgress, RollingBack, engine, anyone, none},
	{RollingBack, EngineRolledBack, RolledBack, engine, anyone, none},
	{RollingBack, EngineRollbackFailed, RollbackFailed, engine, anyone, none},

	{AwaitingSignOff, SignOffOK, afterSignOff, signers, groupStakeholder, none},
	{AwaitingSignOff, SignOffProblem, afterSignOff, signers, groupStakeholder, none},
	{AwaitingSignOff, RollbackHost, Halted, runners, anyone, none},
	{AwaitingSignOff, RollbackWave, Halted, runners, anyone, none},
	{AwaitingSignOff, RollbackAll, RollingBack, runners, anyone, none},

	{Completed, SignOffOK, Completed, signers, groupStakeholder, none},
	{Completed, SignOffProblem, CompletedWithProblems, signers, groupStakeholder, none},
	{Completed, RollbackHost, Halted, runners, anyone, none},
	{Completed, RollbackWave, Halted, runners, anyone, none},
	{Completed, RollbackAll, RollingBack, runners, anyone, none},

	{CompletedWithProblems, SignOffOK, CompletedWithProblems, signers, groupStakeholder, none},
	{CompletedWithProblems, SignOffProblem, CompletedWithProblems, signers, groupStakeholder, none},
	{CompletedWithProblems, RollbackHost, Halted, runners, anyone, none},
	{CompletedWithProblems, RollbackWave, Halted, runners, anyone, none},
	{CompletedWithProblems, RollbackAll, RollingBack, runners, anyone, none},
}

func lookup(s State, a Action) (rule, bool) {
	for _, r := range table {
		if r.from == s && r.action == a {
			return r, true
		}
	}
	return rule{}, false
}

// statesAllowing lists the states in which a is allowed, for error messages.
func statesAllowing(a Action) []string {
	var out []string
	for _, r := range table {
		if r.action == a {
			out = append(out, string(r.from))
		}
	}
	return out
}

// Decide says whether who may take req on c now, and if so what follows:
// the next state and the event to record. Errors wrap ErrWrongState,
// ErrForbidden, ErrPrecondition or ErrUnknownAction and say what to do.
func Decide(c Change, req Request, who Actor, now time.Time) (Decision, error) {
	if !slices.Contains(Actions(), req.Action) {
		return Decision{}, refuse(ErrUnknownAction, "unknown action %q; use one of %s", req.Action, joinActions(Actions()))
	}
	r, ok := lookup(c.State, req.Action)
	if !ok {
		want := statesAllowing(req.Action)
		if len(want) == 0 {
			return Decision{}, refuse(ErrWrongState, "change %s is %s: %s is never allowed", c.ID, c.State, req.Action)
		}
		return Decision{}, refuse(ErrWrongState, "change %s is %s; %s needs it %s", c.ID, c.State, req.Action, strings.Join(want, " or "))
	}
	if !slices.Contains(r.roles, who.Role) {
		return Decision{}, refuse(ErrForbidden, "%s (%s) may not %s a change; that needs the role %s",
			who.Name, roleName(who.Role), req.Action, joinRoles(r.roles))
	}
	note, err := checkRelation(r.who, c, req, who)
	if err != nil {
		return Decision{}, err
	}
	if err := checkPrecondition(r.pre, c); err != nil {
		return Decision{}, err
	}
	d := Decision{From: c.State, To: r.to, At: now}
	switch r.to {
	case afterSubmit:
		d.To = PendingApproval
		if c.AutoApproval != "" {
			d.To = approvedOrScheduled(c)
			d.ApprovedBy, d.ApprovedDigest = "auto-approval rule "+c.AutoApproval, c.Digest
		}
	case afterApproval:
		d.To = approvedOrScheduled(c)
		d.ApprovedBy, d.ApprovedDigest = who.Name, c.Digest
	case afterSignOff:
		d.To = afterSignOffState(c, req)
	}
	d.Event = event(c, req, who, d, note)
	if req.Action == Edit {
		d.AddEditor = true
		d.VoidsApproval = c.ApprovedBy != "" || c.ApprovedDigest != ""
	}
	return d, nil
}

// Allowed lists the actions who may take on c now (for buttons and the
// API's "actions" field); engine events are never listed.
func Allowed(c Change, who Actor) []Action {
	var out []Action
	for _, a := range Actions() {
		if strings.HasPrefix(string(a), "engine-") {
			continue
		}
		req := Request{Action: a}
		if a == SignOffOK || a == SignOffProblem {
			req.Group = firstUnsigned(c, who)
		}
		if _, err := Decide(c, req, who, time.Time{}); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// firstUnsigned is a group of c whose stakeholder is who (any group for an
// admin), preferring one not yet signed off.
func firstUnsigned(c Change, who Actor) string {
	var groups []string
	for g, st := range c.Stakeholders {
		if st == who.Name || who.Role == RoleAdmin {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	for _, g := range groups {
		if _, done := c.SignOffs[g]; !done {
			return g
		}
	}
	if len(groups) > 0 {
		return groups[0]
	}
	return ""
}

func approvedOrScheduled(c Change) State {
	if c.Scheduled {
		return Scheduled
	}
	return Approved
}

// afterSignOffState counts the verdicts with this one: awaiting until every
// group has one; then completed only if every verdict is ok. A problem is
// never outweighed by a later ok from another group.
func afterSignOffState(c Change, req Request) State {
	allOK := req.Action == SignOffOK
	for g := range c.Stakeholders {
		if g == req.Group {
			continue
		}
		v, signed := c.SignOffs[g]
		if !signed {
			return AwaitingSignOff
		}
		if !v {
			allOK = false
		}
	}
	if prev, signed := c.SignOffs[req.Group]; signed && !prev {
		allOK = false // an earlier problem for this group stands
	}
	if allOK {
		return Completed
	}
	return CompletedWithProblems
}

func checkRelation(rel relation, c Change, req Request, who Actor) (note string, err error) {
	admin := who.Role == RoleAdmin
	wrote := who.Name == c.Author || slices.Contains(c.Editors, who.Name)
	switch rel {
	case authorOrEditor:
		if !wrote && !admin {
			return "", refuse(ErrForbidden, "%s neither wrote nor edited change %s; its author %s submits it", who.Name, c.ID, c.Author)
		}
	case independentTeamApprover:
		if who.Name == c.Author {
			return "", refuse(ErrForbidden, "%s wrote change %s; an approver who neither wrote nor edited it must approve it", who.Name, c.ID)
		}
		if slices.Contains(c.Editors, who.Name) {
			return "", refuse(ErrForbidden, "%s edited change %s; an approver who neither wrote nor edited it must approve it", who.Name, c.ID)
		}
		var outside []string
		for _, t := range c.Teams {
			if r := who.Teams[t]; r != teamApprover && r != teamSecurity {
				outside = append(outside, t)
			}
		}
		if len(outside) > 0 {
			if !admin {
				return "", refuse(ErrForbidden, "%s is not an approver or security member of team %s, which owns a target group of change %s; ask one of its approvers",
					who.Name, strings.Join(outside, ", "), c.ID)
			}
			return "as global admin outside team " + strings.Join(outside, ", "), nil
		}
	case someTeamApprover:
		if admin || slices.ContainsFunc(c.Teams, func(t string) bool { r := who.Teams[t]; return r == teamApprover || r == teamSecurity }) {
			return "", nil
		}
		return "", refuse(ErrForbidden, "%s is not an approver or security member of team %s, which owns change %s", who.Name, strings.Join(c.Teams, " or "), c.ID)
	case ownerOrTeamMember:
		if admin || wrote || slices.ContainsFunc(c.Teams, func(t string) bool { return who.Teams[t] != "" }) {
			return "", nil
		}
		return "", refuse(ErrForbidden, "%s is neither the author, an editor, nor a member of team %s, which owns change %s", who.Name, strings.Join(c.Teams, " or "), c.ID)
	case groupStakeholder:
		st, ok := c.Stakeholders[req.Group]
		if !ok {
			return "", refuse(ErrPrecondition, "group %q is not a group of change %s", req.Group, c.ID)
		}
		if st != who.Name && !admin {
			return "", refuse(ErrForbidden, "%s is the stakeholder of %s; %s may not sign off for it", st, req.Group, who.Name)
		}
	}
	return "", nil
}

func checkPrecondition(p precondition, c Change) error {
	if p == none {
		return nil
	}
	if c.EmergencyStop {
		return refuse(ErrPrecondition, "the emergency stop is in force; a second user must release it first")
	}
	if p == approvedPlanNoStop && (c.ApprovedDigest == "" || c.ApprovedDigest != c.Digest) {
		return refuse(ErrPrecondition, "the plan of change %s (digest %s) is not the approved one (%s); submit it for approval again",
			c.ID, short(c.Digest), cmp.Or(short(c.ApprovedDigest), "none"))
	}
	return nil
}

func event(c Change, req Request, who Actor, d Decision, note string) string {
	by := who.Name
	reason := ""
	if req.Reason != "" {
		reason = ": " + req.Reason
	}
	switch req.Action {
	case Submit:
		if d.ApprovedBy != "" {
			return fmt.Sprintf("submitted by %s and approved automatically by policy rule %s (plan digest %s)", by, c.AutoApproval, short(d.ApprovedDigest))
		}
		return "submitted for approval by " + by
	case Approve:
		s := fmt.Sprintf("approved by %s (plan digest %s)", by, short(d.ApprovedDigest))
		if note != "" {
			s += " " + note
		}
		return s
	case Reject:
		return "rejected by " + by + reason
	case Edit:
		if c.ApprovedBy != "" {
			return "edited by " + by + "; the approval by " + c.ApprovedBy + " is void"
		}
		return "edited by " + by
	case Cancel:
		return "cancelled by " + by + reason
	case Start:
		return "started by " + by + reason
	case Halt:
		return "halted by " + by + reason
	case Resume:
		return "resumed by " + by
	case RollbackHost, RollbackWave:
		return "rollback requested by " + by + reason + "; the change is halted until someone resumes it or rolls it all back"
	case RollbackAll:
		return "rollback of the whole change requested by " + by + reason + "; forward dispatch stopped"
	case EmergencyStop:
		return "emergency stop by " + by + reason
	case Release:
		return "emergency stop released by " + by + "; resume the change to continue"
	case SignOffOK, SignOffProblem:
		s := fmt.Sprintf("%s signed off %s for %s", by, map[bool]string{true: "ok", false: "with a problem"}[req.Action == SignOffOK], req.Group)
		if req.Action == SignOffProblem && req.Reason != "" {
			s += " (" + req.Reason + ")"
		}
		switch d.To {
		case Completed:
			s += "; every group signed off"
		case CompletedWithProblems:
			s += "; completed with problems"
		}
		return s
	case EngineDone:
		return "completed: every wave passed and every host was verified; awaiting sign-off"
	case EngineHalted:
		return "halted" + reason
	case EngineRolledBack:
		return "rolled back" + reason
	case EngineRollbackFailed:
		return "rollback failed" + reason
	}
	return req.Reason
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func roleName(r Role) string {
	if r == "" {
		return "no role"
	}
	return string(r)
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
