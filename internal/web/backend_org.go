package web

import (
	"context"
	"errors"
	"time"
)

// FormError is a refusal the user can fix (a missing field, an expiry in
// the past, a team they do not belong to...); the console shows its message
// on the form, which keeps what the user typed.
type FormError struct{ Message string }

func (e *FormError) Error() string { return e.Message }

// Refusal is the backend refusing an action by a rule the user should read
// (approving your own request, revoking another team's exception, an object
// in the wrong state). It matches Kind (ErrForbidden or ErrConflict) with
// errors.Is, and the console shows Reason.
type Refusal struct {
	Kind   error
	Reason string
}

func (e *Refusal) Error() string        { return e.Reason }
func (e *Refusal) Is(target error) bool { return target == e.Kind }

// refusalStatus is the status and message for err when it is a *Refusal.
func refusalStatus(err error) (int, string, bool) {
	var rf *Refusal
	if !errors.As(err, &rf) {
		return 0, "", false
	}
	if errors.Is(rf.Kind, ErrConflict) {
		return 409, rf.Reason, true
	}
	return 403, rf.Reason, true
}

// userError says whether err is one to show on the form rather than on an
// error page: a *FormError, a *Refusal or a conflict with the object's state.
func userError(err error) bool {
	var fe *FormError
	var rf *Refusal
	return errors.As(err, &fe) || errors.As(err, &rf) || errors.Is(err, ErrConflict)
}

// OrgBackend is what the console's organisation pages need: groups and
// their owners, the patch calendar and its subscriptions, risk exceptions
// and the knowledge base. Package server implements it with the same
// functions and permission checks as the API; every action is written to
// the audit trail.
type OrgBackend interface {
	// OrgGroups lists every group with its owners, host count and next
	// window (freezes subtracted).
	OrgGroups(ctx context.Context) ([]OrgGroup, error)
	// OrgGroup returns one group with its hosts, its team's members and its
	// next n windows, freezes subtracted; ErrNotFound when there is none.
	OrgGroup(ctx context.Context, name string, n int) (OrgGroup, error)

	// CalendarEvents lists maintenance windows, freezes and scheduled or
	// running changes that overlap [from, to).
	CalendarEvents(ctx context.Context, from, to time.Time) ([]CalendarEvent, error)
	// CalendarTargets lists the teams and groups a calendar subscription may cover.
	CalendarTargets(ctx context.Context) (teams, groups []string, err error)
	// CalendarFeeds lists the calendar subscriptions, never their secrets.
	CalendarFeeds(ctx context.Context) ([]CalendarFeed, error)
	// CreateCalendarFeed makes a secret calendar URL for a team or group
	// (scope "team" or "group") and returns it with its path
	// ("/calendar/SECRET.ics"), which is shown once and never again.
	CreateCalendarFeed(ctx context.Context, u User, scope, name string) (CalendarFeed, string, error)
	// RevokeCalendarFeed ends a calendar subscription.
	RevokeCalendarFeed(ctx context.Context, u User, id string) error

	// Exceptions lists every exception, newest first, with what u may do to each.
	Exceptions(ctx context.Context, u User) ([]Exception, error)
	// RequestException asks for a risk acceptance as u and returns its ID.
	// Errors the user can fix are a *FormError or a *Refusal.
	RequestException(ctx context.Context, u User, req ExceptionRequest) (string, error)
	// ExceptionAction approves or revokes an exception as u; the server's
	// rules (not your own request, a member of the team) refuse with a *Refusal.
	ExceptionAction(ctx context.Context, u User, id, action string) error
	// ExceptionTeams lists the teams an exception may belong to.
	ExceptionTeams(ctx context.Context) ([]string, error)

	// KBEntries lists every knowledge-base entry, newest first.
	KBEntries(ctx context.Context) ([]KBEntry, error)
	// KBEntry returns one entry; ErrNotFound when there is none.
	KBEntry(ctx context.Context, id string) (KBEntry, error)
	// SaveKBEntry creates (e.ID "") or replaces an entry as u and returns its
	// ID. Errors the user can fix are a *FormError.
	SaveKBEntry(ctx context.Context, u User, e KBEntry) (string, error)
}

// OrgGroup is a group of hosts with its owners and windows. Its strings
// come from the organisation's YAML and host names from agents: untrusted.
type OrgGroup struct {
	Name        string
	Team        string
	Stakeholder string // owns the hosts and signs off changes
	Sysadmin    string // patches the hosts
	Criticality int    // 1 (low) to 5 (high), 0 when unset
	Exposure    string
	Ring        string
	Reboot      string
	HostCount   int
	Hosts       []GroupHost      // only from OrgGroup
	Members     []TeamMember     // the team's members; only from OrgGroup
	Windows     []WindowRule     // the group's window rules
	NextWindows []WindowPeriod   // coming openings, freezes subtracted
	Freezes     []WindowPeriod   // freezes that apply to the group, not yet over (Window is the freeze's name)
	WhoToCall   []EscalationStep // the team's escalation ladder for this group; only from OrgGroup
}

// EscalationStep is a step of a team's escalation ladder: after how long
// an overdue finding or a stuck change reaches whom.
type EscalationStep struct {
	After  string
	People []string // "alice (sysadmin)"
}

// GroupHost is one host of a group.
type GroupHost struct{ ID, Hostname string }

// TeamMember gives a user a role in a team.
type TeamMember struct{ User, Role string }

// WindowRule is a maintenance window as written in the organisation.
type WindowRule struct {
	Name, RRule, Start, TZ string
	Duration               time.Duration
	OffsetDays             int
}

// WindowPeriod is one opening of a window (or a freeze), in UTC.
type WindowPeriod struct {
	Window     string
	Start, End time.Time
	Reason     string // for freezes
}

// Kinds of calendar events.
const (
	EventWindow = "window"
	EventFreeze = "freeze"
	EventChange = "change"
)

// CalendarEvent is one item of the patch calendar.
type CalendarEvent struct {
	Kind       string // EventWindow, EventFreeze or EventChange
	Title      string
	Detail     string
	Start, End time.Time
	Group      string // windows: the group
	ChangeID   string // changes: the change
	State      string // changes: approved, running, ...
	Frozen     bool   // windows: a freeze covers it, so nothing runs in it
}

// CalendarFeed is a calendar subscription as listed (never its secret).
type CalendarFeed struct {
	ID, Scope, Name, CreatedBy string
	CreatedAt                  time.Time
	RevokedAt                  time.Time // zero while in use
}

// Exception is a risk acceptance. CanApprove and CanRevoke say whether the
// user who asked may do so now, by the server's rules.
type Exception struct {
	ID            string
	Team          string
	Advisory      string
	Package       string
	Host          string // host ID
	Hostname      string
	Group         string
	Justification string
	RequestedBy   string
	RequestedAt   time.Time
	ApprovedBy    string
	ApprovedAt    time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time
	State         string // pending, active, expired, revoked
	CanApprove    bool
	CanRevoke     bool
}

// ExceptionRequest is what the console asks RequestException for. At least
// one of Advisory and Package, and a host or group scope, are set.
type ExceptionRequest struct {
	Team          string // "" takes the group's team
	Advisory      string
	Package       string
	Host          string // host ID or hostname
	Group         string
	Justification string
	Expires       time.Time
}

// KBEntry is a problem met after patching, with its fix or workaround.
type KBEntry struct {
	ID        string
	Title     string
	Problem   string
	Symptoms  string
	Fix       string
	Packages  []KBPackage
	Distro    string // "" for any
	Changes   []string
	Hosts     []string
	Status    string // draft or published
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// KBPackage is a package an entry is about, with the versions that showed the problem.
type KBPackage struct {
	Name     string
	Versions []string
}
