package web

import (
	"context"
	"time"
)

// AdminBackend is what the settings, reports and dashboard pages need from
// the server. Every action takes the signed-in user, goes through the same
// rules and permission checks as the API and is written to the audit trail
// by the backend. Errors: ErrForbidden, ErrNotFound, ErrConflict (its text
// is shown), *FormError (backend_org.go; its message is shown on the form),
// or a plain error (logged, shown generically).
type AdminBackend interface {
	// Roles lists the roles a user or API token may hold, in display order.
	Roles() []string
	Users(ctx context.Context) ([]UserInfo, error)
	// CreateUser creates a user; an empty password makes the backend
	// generate one. It returns the user and the initial password, which is
	// shown once and never again.
	CreateUser(ctx context.Context, u User, username, role, password string) (UserInfo, string, error)
	// SetUserRole changes a user's role; no admin may remove their own.
	SetUserRole(ctx context.Context, u User, id, role string) error
	// DisableUser stops a user from signing in and ends their sessions;
	// nobody may disable themselves.
	DisableUser(ctx context.Context, u User, id string) error
	// ChangePassword sets u's password after checking the current one
	// (ErrBadLogin when it is wrong, ErrThrottled past the sign-in limits
	// for RemoteAddr(ctx)). It changes u's Epoch, so every
	// session started before it ends.
	ChangePassword(ctx context.Context, u User, current, next string) error

	APITokens(ctx context.Context) ([]APIToken, error)
	// CreateAPIToken returns the new token and its secret, shown once.
	CreateAPIToken(ctx context.Context, u User, req APITokenRequest) (APIToken, string, error)
	RevokeAPIToken(ctx context.Context, u User, id string) error
	EnrollTokens(ctx context.Context) ([]EnrollToken, error)
	// CreateEnrollToken returns the new token and its secret, shown once.
	CreateEnrollToken(ctx context.Context, u User, req EnrollTokenRequest) (EnrollToken, string, error)
	RevokeEnrollToken(ctx context.Context, u User, id string) error

	Feeds(ctx context.Context) ([]Feed, error)
	// SyncFeeds fetches every configured feed source now and returns the
	// feeds' status afterwards.
	SyncFeeds(ctx context.Context, u User) ([]Feed, error)
	// Integrations lists the configured notification targets, without
	// their secrets.
	Integrations(ctx context.Context) ([]Integration, error)

	// ReportScopes lists the teams and groups a report may be narrowed to.
	ReportScopes(ctx context.Context) (teams, groups []string, err error)
	// Report computes the KPI report for q.
	Report(ctx context.Context, q ReportQuery) (Report, error)
	// ReportFile is the report for q as the API serves it: format json,
	// csv (formula-safe) or html (printable, with the policy it needs).
	ReportFile(ctx context.Context, q ReportQuery, format string) (ReportFile, error)
	// Dashboard is the fleet's risk, SLA and coverage status, upcoming
	// windows and open changes. It must stay cheap at 10,000 hosts.
	Dashboard(ctx context.Context) (DashboardStatus, error)
}

// UserInfo is a user as the settings page lists it.
type UserInfo struct {
	ID, Username, Role string
	Created            time.Time
	Disabled           bool
}

// APIToken is an API token, never with its secret.
type APIToken struct {
	ID, Name, Prefix, Role, Owner string
	State                         string // active, expired, revoked
	Created                       time.Time
	Expires, LastUsed             time.Time // zero: never
}

// APITokenRequest asks for an API token acting as the requesting user.
type APITokenRequest struct {
	Name    string
	Role    string
	Expires time.Duration // 0: never
}

// EnrollToken is an enrollment token, never with its secret.
type EnrollToken struct {
	ID, Prefix, CreatedBy string
	State                 string // active, expired, exhausted, revoked
	MaxHosts, Uses        int    // MaxHosts 0: unlimited
	Created, Expires      time.Time
	Labels                []string // key=value, sorted
}

// EnrollTokenRequest asks for an enrollment token.
type EnrollTokenRequest struct {
	MaxHosts int
	Expires  time.Duration
	Labels   map[string]string
}

// Feed is one advisory feed and its last sync.
type Feed struct {
	Name, Kind, Origin string
	LastSync           time.Time
	Records, Rejected  int
	Error              string
	Rejections         []string // "record: reason", the first few
}

// Integration is one configured notification target.
type Integration struct {
	Kind   string // e.g. webhook
	Target string // where it goes, without credentials (scheme and host)
	Signed bool   // messages carry an HMAC signature
	Note   string
}

// ReportQuery selects a KPI report: a period of UTC days and an optional
// scope. Zero From and To mean the 30 days up to today.
type ReportQuery struct {
	From, To              time.Time
	Team, Group, Severity string
}

// KPI is one headline figure of a report.
type KPI struct{ Label, Text string }

// OwnerOverdue is how many open findings of one owner are overdue.
type OwnerOverdue struct {
	Owner                   string
	Overdue, Excepted, Held int
}

// ReportPoint is one UTC day of a report's series. A nil rate or mean
// had no data that day.
type ReportPoint struct {
	Date                  time.Time
	MTTPDays              *float64 // mean days from publication to verified fix, over findings fixed that day
	MTTPFixDays           *float64 // mean days from fix available to verified fix
	Coverage              *float64 // fraction of hosts missing no security update
	SLAOpen, SLAClosed    *float64 // fraction of open findings not overdue; of closed ones closed in time
	Overdue, OpenFindings int
}

// Report is a KPI report as the reports page shows it.
type Report struct {
	From, To, Generated time.Time
	Headline            []KPI
	All                 []KPI // every figure, as the API names them
	Owners              []OwnerOverdue
	Series              []ReportPoint
}

// ReportFile is a report rendered for download.
type ReportFile struct {
	ContentType string
	// CSP, when set, replaces the console's Content-Security-Policy (the
	// printable page carries its own stylesheet, allowed by hash).
	CSP  string
	Name string // file name offered to save as
	Body []byte
}

// DashboardStatus is what the dashboard shows beyond host and finding
// counts.
type DashboardStatus struct {
	AsOf time.Time // when the figures were computed; they may be a minute old

	// From the store's grouped count of open findings.
	OpenFindings, Overdue, Excepted, KEV int
	BySeverity                           map[string]int // critical, high, medium, low, unknown

	Hosts, HostsMissing int
	Coverage            *float64
	SLAOpen, SLAClosed  *float64 // over the last 30 days
	UnpatchedCritical   int
	RiskExposure30d     float64 // priority-days
	OverdueByOwner      []OwnerOverdue
	Trend               []ReportPoint // the last 30 days

	Windows []UpcomingWindow
	Changes []Change // open changes, newest first, without hosts
}

// UpcomingWindow is the next maintenance window of one group.
type UpcomingWindow struct {
	Group, Window string
	Start, End    time.Time
}
