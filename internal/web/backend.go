package web

import (
	"context"
	"errors"
	"time"
)

type remoteAddrKey struct{}

// RemoteAddr is the client address of the console request ctx belongs to
// (the TCP peer; forwarded headers are not trusted), for the backend's
// sign-in limits.
func RemoteAddr(ctx context.Context) string {
	a, _ := ctx.Value(remoteAddrKey{}).(string)
	return a
}

// Errors a Backend returns where the console must decide what to show.
var (
	// ErrBadLogin: the username or password is wrong. The console shows one
	// message for both so it does not reveal which accounts exist.
	ErrBadLogin = errors.New("wrong username or password")
	// ErrThrottled: the sign-in limits refuse this attempt (too many
	// attempts for the account from this address, from this address, or
	// the server is busy checking others). The console answers 429.
	ErrThrottled = errors.New("too many sign-in attempts")
	// ErrNotFound: the host, change or other object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the action is not possible in the object's current state
	// (for example approving a change that is already running). Its message
	// is shown to the user.
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the backend refused the action for this user.
	ErrForbidden = errors.New("forbidden")
)

// User is a signed-in person.
type User struct {
	ID, Username, Role string
	// Epoch changes whenever the user's password does; a session started
	// under another epoch is signed out.
	Epoch string
}

// Backend is what the console needs from the server's services. Package
// server implements it over the store; tests use an in-memory fake.
type Backend interface {
	AdminBackend  // settings, reports and the dashboard's KPIs: backend_admin.go
	OrgBackend    // groups, calendar, exceptions and knowledge base: backend_org.go
	NotifyBackend // the notification delivery log: backend_notify.go
	RollupBackend // open findings by advisory, host or package: rollup.go
	// Authenticate checks a username and password; wrong credentials give
	// ErrBadLogin, and the backend's sign-in limits ErrThrottled. The
	// client's address is RemoteAddr(ctx).
	Authenticate(ctx context.Context, username, password string) (User, error)
	// UserByID loads the user of a session on every request; an error signs the session out.
	UserByID(ctx context.Context, id string) (User, error)
	// Allowed says whether the user's role may use a permission named like the
	// API's ("hosts:read", "vulns:read", "changes:read", "changes:approve", ...).
	Allowed(u User, perm string) bool
	// Hosts lists hosts matching q, the cursor of the next page ("" at the end) and the total matching.
	Hosts(ctx context.Context, q HostQuery) (hosts []Host, next string, total int, err error)
	// Host returns one host with its installed packages and open findings.
	Host(ctx context.Context, id string) (Host, []Package, []Finding, error)
	// Findings lists findings ranked by priority, highest first, and the cursor of the next page.
	Findings(ctx context.Context, q FindingQuery) (findings []Finding, next string, err error)
	Changes(ctx context.Context) ([]Change, error)
	Change(ctx context.Context, id string) (Change, error)
	// ChangeAction performs submit, approve, reject, start, halt, resume, rollback or cancel as u.
	ChangeAction(ctx context.Context, u User, id, action string) error
	// ChangeActions lists the actions u may take on the change now (the
	// change lifecycle's decision for this user, not only the state's).
	ChangeActions(ctx context.Context, u User, id string) ([]string, error)
	// CreateChange drafts and submits a change fixing the given advisories on the hosts of the given groups;
	// it returns the new change's ID. Errors: ErrForbidden, ErrConflict, or a plain error whose text is shown.
	CreateChange(ctx context.Context, u User, req ChangeRequest) (string, error)
	// Groups lists the group names a change may target.
	Groups(ctx context.Context) ([]string, error)
	// SignOff records the stakeholder's verdict for one group of a change (ok, or a problem text).
	SignOff(ctx context.Context, u User, changeID, group string, ok bool, problem string) error
	// Audit returns up to limit entries, newest first, skipping the first from.
	Audit(ctx context.Context, from, limit int) ([]AuditEntry, error)
	// Record appends a console event (sign-in success or failure, sign-out) to the audit log.
	Record(ctx context.Context, e AuditEntry)
}

// ChangeRequest is what the console asks CreateChange to draft and submit.
type ChangeRequest struct {
	Title         string
	Advisories    []string      // advisory IDs, e.g. CVE-2024-3094
	Groups        []string      // target groups, from Groups
	BatchSize     int           // hosts patched at once, at least 1
	FailureBudget int           // failed hosts tolerated before the rollout halts
	Soak          time.Duration // wait after each ring before the next starts; 0 for none
	IgnoreWindows bool          // run outside the hosts' maintenance windows
	// Reboot is "" (each group's own reboot policy) or "restart-services"
	// (restart only the services that need it where that is enough).
	Reboot string
	// Start is "" (someone starts it once approved), "next-window" or an
	// RFC 3339 time inside every target group's window.
	Start string
	// AllowDowngrade plans versions lower than the installed ones;
	// ForceNotOffered plans versions the hosts' repositories do not offer.
	AllowDowngrade  bool
	ForceNotOffered bool
}

// HostQuery filters and pages the host list.
type HostQuery struct {
	Search string // substring of the hostname or an address
	OS     string // exact OS name, "" for any
	Stale  *bool  // nil for any
	Limit  int
	After  string // cursor from the previous page
}

// FindingQuery filters and pages the ranked findings.
type FindingQuery struct {
	Host     string // host ID, "" for any
	Severity string // critical, high, medium, low, unknown; "" for any
	KEV      *bool  // nil for any
	Limit    int
	After    string
}

// Host is what the console shows about one host. Every string in it may
// come from the host's agent and is untrusted.
type Host struct {
	ID             string
	Hostname       string
	OS             string // e.g. "debian"
	OSVersion      string // e.g. "12"
	Kernel         string
	Arch           string
	Addresses      []string
	AgentVersion   string
	Owner          string
	Criticality    string
	LastSeen       time.Time
	Stale          bool
	RebootRequired bool
	Packages       int // number installed
	Findings       int // number open
}

// Package is one installed package on a host.
type Package struct {
	Name, Version, Arch, Source, Ecosystem string
}

// Finding is one advisory that applies to one package on one host, with
// its priority and the reasons for it.
type Finding struct {
	ID               string
	AdvisoryID       string // e.g. CVE-2024-3094 or ALSA-2025:10073
	Summary          string
	HostID           string
	Hostname         string
	Package          string
	InstalledVersion string
	FixedVersion     string // "" when no fix exists yet
	Severity         string // critical, high, medium, low, unknown
	Priority         int    // 0 to 100
	KEV              bool
	EPSS             float64 // probability 0 to 1
	SSVC             string
	Due              time.Time // zero when no SLA applies
	Reasons          []string  // one line per factor of the priority
}

// Change is a change request and its rollout.
type Change struct {
	ID         string
	Title      string
	State      string // e.g. draft, pending_approval, approved, running, halted, awaiting-signoff, done, rolled_back
	Author     string
	ApprovedBy string
	Created    time.Time
	// Actions are those the change's lifecycle allows the viewing user
	// now (filled by ChangeActions); the console shows a button for each.
	Actions []string
	// Waiting says what the change waits for now (an approval, a window
	// until a time, soak, health checks, sign-offs); only Change fills it.
	Waiting string
	// Waves counts the plan's rings that have hosts; Wave is the current
	// one (1-based) once started.
	Waves, Wave int
	// HostCount is the number of hosts in the plan; Hosts lists them, and
	// only Change fills it.
	HostCount int
	Hosts     []ChangeHost
	// Groups are the change's target groups; in state awaiting-signoff a
	// stakeholder signs off each one.
	Groups   []string
	SignOffs []SignOffView
	// Plan is what the approver reviews: the rollout's parameters, each
	// group's windows and the knowledge base's known problems with the
	// packages it installs. Only Change fills it.
	Plan *ChangePlan
	// JobsOut are the jobs hosts received and have not reported, as
	// "hostname (phase)": after a halt or emergency stop they still run to
	// their end. Only Change fills it.
	JobsOut []string
	// History is the change's timeline, oldest first. Only Change fills it.
	History []ChangeEvent
	// Ticket is the change's issue in a tracker (the jira channel), nil
	// when it has none. Only Change fills it.
	Ticket *ChangeTicket
}

// ChangeTicket is a change's issue in an issue tracker: the page links it.
type ChangeTicket struct {
	Tracker, Key, URL string
}

// ChangeEvent is one entry of a change's timeline.
type ChangeEvent struct {
	At                  time.Time
	Actor, Kind, Detail string
}

// ChangePlan is a change's rollout plan as the change page shows it.
type ChangePlan struct {
	Rings         []string // in order, earliest first
	Batch         string   // e.g. "2 hosts" or "10 %"
	FailureBudget string   // e.g. "0 hosts" or "5 %"
	Soak          time.Duration
	JobTimeout    time.Duration
	HealthChecks  []string
	AutoRollback  bool
	IgnoreWindows bool
	Windows       []UpcomingWindow // the planned windows per group, soonest first
	KnownProblems []KnownProblem
	// Review lists every host the plan considered, planned or not, with
	// the reason; empty for changes planned before plans kept it.
	Review []PlanReviewHost
}

// PlanReviewHost is one host a change's plan considered.
type PlanReviewHost struct {
	HostID, Hostname string
	Group, Ring      string
	Tier             string   // the group's reboot tier, "" for the rest
	Status           string   // planned, excluded, not-offered, downgrade-refused
	Reason           string   // why it is not planned, or a note on how it is
	Targets          []string // "name version" asked for
}

// KnownProblem is a knowledge-base entry about a package a change installs.
type KnownProblem struct {
	ID, Title, Problem, Fix, Status string
}

// SignOffView is one stakeholder's verdict on one group of a change.
type SignOffView struct {
	Group, By string
	OK        bool
	Problem   string // what does not work, when !OK
}

// ChangeHost is one host of a change and its progress.
type ChangeHost struct {
	HostID   string
	Hostname string
	Ring     int // rollout wave, 0 first
	Status   string
	Detail   string
	Group    string
	Targets  []string // "name version" to install
	// AfterPatch is what follows a successful install: "reboot", "restart
	// <units>" or "" for nothing.
	AfterPatch string
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time       time.Time
	Actor      string
	Action     string // e.g. login.success, login.failure, logout, change.approve
	Target     string
	Detail     string
	RemoteAddr string
}
