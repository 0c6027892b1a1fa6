package notify

import (
	"slices"
	"strings"
	"time"
)

// Kind names an event; the names are part of the webhook schema.
type Kind string

// Events.
const (
	ChangePendingApproval       Kind = "change.pending-approval"
	ChangeApproved              Kind = "change.approved"
	ChangeScheduled             Kind = "change.scheduled"
	ChangeStarted               Kind = "change.started"
	ChangeHalted                Kind = "change.halted"
	ChangeRolledBack            Kind = "change.rolled-back"
	ChangeRollbackFailed        Kind = "change.rollback-failed"
	ChangeAwaitingSignOff       Kind = "change.awaiting-signoff"
	ChangeCompleted             Kind = "change.completed"
	ChangeCompletedWithProblems Kind = "change.completed-with-problems"
	SignOffRequested            Kind = "signoff.requested"
	SignOffProblem              Kind = "signoff.problem"
	EmergencyStop               Kind = "emergency.stop"
	EmergencyRelease            Kind = "emergency.release"
	FeedSyncFailed              Kind = "feed.sync-failed"
	HostStale                   Kind = "host.stale"
	HostQuarantined             Kind = "host.quarantined"
	HostReleased                Kind = "host.released"
	FindingOverdue              Kind = "finding.overdue"
	FindingKEV                  Kind = "finding.kev"
	ExceptionExpiring           Kind = "exception.expiring"
	ExceptionExpired            Kind = "exception.expired"
	Test                        Kind = "test"
)

// Kinds lists every event, in the order the documentation shows them.
var Kinds = []Kind{ChangePendingApproval, ChangeApproved, ChangeScheduled, ChangeStarted, ChangeHalted, ChangeRolledBack,
	ChangeRollbackFailed, ChangeAwaitingSignOff, ChangeCompleted, ChangeCompletedWithProblems, SignOffRequested, SignOffProblem,
	EmergencyStop, EmergencyRelease, FeedSyncFailed, HostStale, HostQuarantined, HostReleased, FindingOverdue, FindingKEV, ExceptionExpiring, ExceptionExpired, Escalation, Test}

// ChangeKind is the event of a change entering state (the lifecycle's
// state names); false for states nobody is told about (draft, rolling
// back, rejected and cancelled are told to the author by the console).
func ChangeKind(state string) (Kind, bool) {
	switch state {
	case "running":
		return ChangeStarted, true
	case "pending-approval", "approved", "scheduled", "halted", "rolled-back", "rollback-failed", "awaiting-signoff",
		"completed", "completed-with-problems":
		return Kind("change." + state), true
	}
	return "", false
}

// Event is one occurrence of something people should hear about.
type Event struct {
	// ID is the same every time this occurrence is observed (a change's
	// revision, a host's stale-since time), so it is told once.
	ID      string    `json:"id"`
	Kind    Kind      `json:"kind"`
	At      time.Time `json:"at"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	// Link is the console path that shows the subject ("/changes/ID").
	Link string `json:"link,omitempty"`
	// What it is about; empty fields do not apply.
	Change    string `json:"change,omitempty"`
	Host      string `json:"host,omitempty"`
	Advisory  string `json:"advisory,omitempty"`
	Exception string `json:"exception,omitempty"`
	Feed      string `json:"feed,omitempty"`
	// Groups and Teams the event concerns: recipients come from them. An
	// event naming neither concerns the whole organisation.
	Groups []string `json:"groups,omitempty"`
	Teams  []string `json:"teams,omitempty"`
	// Author wrote the change or requested the exception; Actor did what
	// the event reports.
	Author string `json:"author,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// Schedule is when a change is planned to run (change.approved and
	// change.scheduled); e-mail attaches it as an iCalendar event.
	Schedule *Schedule `json:"schedule,omitempty"`
	// Escalation is the ladder step an escalation event is.
	Escalation *EscalationStep `json:"escalation,omitempty"`
}

// Schedule is a planned span of time and what happens in it.
type Schedule struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Detail string    `json:"detail,omitempty"`
}

// Matches says whether pattern names kind: the kind itself, "*", or a
// family such as "change.*".
func Matches(pattern string, kind Kind) bool {
	if pattern == "*" || pattern == string(kind) {
		return true
	}
	family, ok := strings.CutSuffix(pattern, ".*")
	return ok && strings.HasPrefix(string(kind), family+".")
}

// validPattern says whether pattern names at least one event.
func validPattern(pattern string) bool {
	return slices.ContainsFunc(Kinds, func(k Kind) bool { return Matches(pattern, k) })
}
