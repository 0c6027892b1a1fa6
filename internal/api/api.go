package api

import (
	"encoding/json"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Page is one page of a list. NextPageToken is empty on the last page.
type Page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
	Total         int    `json:"total"`
}

// Host is a host as the API shows it.
type Host struct {
	ID             string            `json:"id"`
	Hostname       string            `json:"hostname"`
	OS             inventory.OS      `json:"os"`
	Kernel         string            `json:"kernel"`
	Arch           string            `json:"arch"`
	Addresses      []string          `json:"addresses,omitempty"`
	UptimeSeconds  int64             `json:"uptime_seconds"`
	PackageFormat  string            `json:"package_format,omitempty"`
	AgentVersion   string            `json:"agent_version,omitempty"`  // as the agent reports it ("" when it does not)
	AgentPlatform  string            `json:"agent_platform,omitempty"` // the agent's GOOS/GOARCH
	RebootRequired bool              `json:"reboot_required"`
	RebootReasons  []string          `json:"reboot_reasons,omitempty"`
	Labels         map[string]string `json:"labels"`      // from the agent: os, release, arch, format
	UserLabels     map[string]string `json:"user_labels"` // set by people
	EnrolledAt     time.Time         `json:"enrolled_at"`
	LastSeenAt     time.Time         `json:"last_seen_at"`
	Stale          bool              `json:"stale"`
	Revoked        bool              `json:"revoked"`
	RevokedAt      *time.Time        `json:"revoked_at,omitempty"`
	CertNotAfter   time.Time         `json:"cert_not_after"`
	Revision       int64             `json:"inventory_revision"`
	PackageCount   int               `json:"package_count"`
	UpdateCount    int               `json:"update_count"`
	OpenFindings   int               `json:"open_findings"` // open findings, excepted ones included
	// ServicesNeedingRestart are the services the host's needrestart or
	// needs-restarting says run replaced code.
	ServicesNeedingRestart []string `json:"services_needing_restart,omitempty"`
	// Quarantine is the host's policy-enforcement quarantine, current or
	// last (only on GET /api/v1/hosts/{id}); nil when never quarantined.
	Quarantine *Quarantine `json:"quarantine,omitempty"`
}

// Quarantine is a host's enforcement quarantine (docs/policy.md).
type Quarantine struct {
	Active        bool       `json:"active"`
	QuarantinedAt time.Time  `json:"quarantined_at"`
	ReleasedAt    *time.Time `json:"released_at,omitempty"`
	Hook          string     `json:"hook"`
	Reason        string     `json:"reason"`
}

// Package is an installed package with the newer version the host's
// repositories offer, if any.
type Package struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	Arch            string `json:"arch,omitempty"`
	Source          string `json:"source,omitempty"`
	SourceVersion   string `json:"source_version,omitempty"`
	Format          string `json:"format"`
	UpdateAvailable string `json:"update_available,omitempty"`
}

// SetLabelsRequest replaces a host's user labels.
type SetLabelsRequest struct {
	Labels map[string]string `json:"labels"`
}

// CreateEnrollTokenRequest asks for an enrollment token.
type CreateEnrollTokenRequest struct {
	MaxHosts int               `json:"max_hosts"` // 0: unlimited
	Expires  string            `json:"expires"`   // Go duration, e.g. "24h"; default 24h
	Labels   map[string]string `json:"labels,omitempty"`
}

// EnrollToken is an enrollment token; Token (the secret) is set only in the
// response that created it.
type EnrollToken struct {
	ID        string            `json:"id"`
	Token     string            `json:"token,omitempty"`
	Prefix    string            `json:"prefix"`
	MaxHosts  int               `json:"max_hosts"`
	Uses      int               `json:"uses"`
	ExpiresAt time.Time         `json:"expires_at"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy string            `json:"created_by,omitempty"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	State     string            `json:"state"` // active, expired, exhausted, revoked
}

// CreateAPITokenRequest asks for an API token.
type CreateAPITokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires,omitempty"` // Go duration; empty: never
	User    string `json:"user,omitempty"`    // username the token acts as (admin only); empty: the caller
}

// User is a person; the password is never shown except once on creation.
type User struct {
	ID         string     `json:"id"`
	Username   string     `json:"username"`
	Role       string     `json:"role"`
	Email      string     `json:"email,omitempty"` // where the email channel reaches them
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	Password   string     `json:"password,omitempty"` // only in the answer to create
}

// CreateUserRequest creates a user with a generated password.
type CreateUserRequest struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Email    string `json:"email,omitempty"` // optional: where the email channel reaches them
}

// SetEmailRequest changes a user's e-mail address ("" removes it).
type SetEmailRequest struct {
	Email string `json:"email"`
}

// APIToken is an API token; Token (the secret) is set only in the response
// that created it.
type APIToken struct {
	ID         string     `json:"id"`
	Token      string     `json:"token,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	User       string     `json:"user"` // the username the token acts as ("" for a token without a user)
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Finding is one advisory affecting one installed package of one host.
type Finding struct {
	ID               string     `json:"id"`
	HostID           string     `json:"host_id"`
	Hostname         string     `json:"hostname"`
	Package          string     `json:"package"`
	Arch             string     `json:"arch,omitempty"`
	AdvisoryID       string     `json:"advisory_id"`
	CVEs             []string   `json:"cves"`
	Summary          string     `json:"summary,omitempty"`
	InstalledVersion string     `json:"installed_version"`
	FixedVersion     string     `json:"fixed_version,omitempty"` // empty: no fix published yet
	FixAvailable     bool       `json:"fix_available"`           // the host's repositories offer the fix
	Status           string     `json:"status"`                  // open, resolved
	FirstSeenAt      time.Time  `json:"first_seen_at"`
	ResolvedAt       *time.Time `json:"resolved_at,omitempty"`
	Resolution       string     `json:"resolution,omitempty"`
	Reopened         int        `json:"reopened,omitempty"`
	Severity         string     `json:"severity"`
	Priority         float64    `json:"priority"`
	SSVC             string     `json:"ssvc"`
	Reasons          []string   `json:"reasons"` // how the priority was reached
	KEV              bool       `json:"kev"`
	DueAt            *time.Time `json:"due_at,omitempty"`
	DueReason        string     `json:"due_reason,omitempty"`
	Overdue          bool       `json:"overdue"`
	Excepted         bool       `json:"excepted"`               // an active exception accepts the risk
	ExceptionID      string     `json:"exception_id,omitempty"` // which one
	Held             string     `json:"held,omitempty"`         // the package is held back by policy: the reason
	History          []Event    `json:"history,omitempty"`
}

// Event is one entry of a finding's history.
type Event struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// Vulnerability is an advisory with the hosts it affects.
type Vulnerability struct {
	ID        string          `json:"id"`
	Source    string          `json:"source"`
	Feed      string          `json:"feed"`
	Summary   string          `json:"summary"`
	Severity  string          `json:"severity,omitempty"`
	CVSS      []string        `json:"cvss,omitempty"`
	CVEs      []string        `json:"cves"`
	Published time.Time       `json:"published"`
	Modified  time.Time       `json:"modified"`
	Withdrawn *time.Time      `json:"withdrawn,omitempty"`
	Advisory  json.RawMessage `json:"advisory"` // the whole record as imported
	Findings  []Finding       `json:"findings"` // open findings, one per affected host and package
	// AffectedHosts is how many distinct active hosts have an open finding
	// of this advisory (a host with two affected packages counts once).
	AffectedHosts int `json:"affected_hosts"`
}

// FeedStatus is what the last import or sync of a feed did.
type FeedStatus struct {
	Name       string      `json:"name"`
	Kind       string      `json:"kind"`
	Origin     string      `json:"origin"`
	LastSync   time.Time   `json:"last_sync"`
	Records    int         `json:"records"`
	Changed    int         `json:"changed"`
	Rejected   int         `json:"rejected"`
	Duplicates int         `json:"duplicates"` // identical copies of a record, read once
	Rejections []Rejection `json:"rejections,omitempty"`
	Error      string      `json:"error,omitempty"`
	// SnapshotAt and SnapshotVersion date a KEV or EPSS snapshot.
	SnapshotAt      *time.Time `json:"snapshot_at,omitempty"`
	SnapshotVersion string     `json:"snapshot_version,omitempty"`
}

// Rejection is a feed record refused, and why.
type Rejection struct {
	Record string `json:"record"`
	Reason string `json:"reason"`
}

// ImportResult is the answer to a feed import or sync.
type ImportResult struct {
	Feed             FeedStatus `json:"feed"`
	Added            int        `json:"added"`   // records new to the feed
	Changed          int        `json:"changed"` // records that differ from the stored ones
	Removed          int        `json:"removed"` // KEV entries or EPSS scores no longer in the snapshot
	ChangedRecords   int        `json:"changed_records"`
	HostsReconciled  int        `json:"hosts_reconciled"`
	FindingsRescored int        `json:"findings_rescored"`
	// Job follows the matching the import started (GET
	// /api/v1/feeds/jobs/{id}); nil when nothing changed. With ?wait=true
	// the answer comes when it is done, and HostsReconciled and
	// FindingsRescored say what it did.
	Job *FeedJob `json:"job,omitempty"`
}

// FindingRollup is one group of open findings: of one advisory, one host or
// one package name (by says which; the others' fields are empty). Counts
// of hosts are of distinct hosts.
type FindingRollup struct {
	By         string `json:"by"` // advisory, host or package
	AdvisoryID string `json:"advisory_id,omitempty"`
	Summary    string `json:"summary,omitempty"`
	HostID     string `json:"host_id,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	Package    string `json:"package,omitempty"`
	Severity   string `json:"severity,omitempty"` // by advisory: critical … none, unknown

	Priority    float64    `json:"priority"`            // the highest among the findings
	Findings    int        `json:"findings"`            // open findings
	Open        int        `json:"open"`                // open findings no exception accepts
	Excepted    int        `json:"excepted"`            // open findings an active exception accepts
	Hosts       int        `json:"hosts"`               // distinct hosts
	Advisories  int        `json:"advisories"`          // distinct advisories
	FixHosts    int        `json:"fix_available_hosts"` // distinct hosts whose repositories offer a fix
	FixFindings int        `json:"fix_available"`       // findings whose fix the host's repositories offer
	KEV         int        `json:"kev"`                 // findings of an advisory in CISA KEV
	Overdue     int        `json:"overdue"`             // findings past their due date
	EPSS        *float64   `json:"epss,omitempty"`      // the highest EPSS score; absent when unknown
	DueAt       *time.Time `json:"due_at,omitempty"`    // the earliest due date
	FindingsURL string     `json:"findings_url"`        // the API list of these findings, one per host and package
}

// ChangeSummary is a change's rollout progress.
type ChangeSummary struct {
	Status         string   `json:"status"`
	Reason         string   `json:"reason,omitempty"` // why it halted or was cancelled
	Wave           int      `json:"wave"`             // index of the current ring
	Ring           string   `json:"ring"`             // name of the current ring
	Hosts          int      `json:"hosts"`
	Pending        int      `json:"pending"`
	InFlight       int      `json:"in_flight"` // an install, reboot or restart under way
	Succeeded      int      `json:"succeeded"`
	Failed         int      `json:"failed"` // counted against the budget
	RolledBack     int      `json:"rolled_back"`
	Budget         int      `json:"budget"`      // failures tolerated
	BatchLimit     int      `json:"batch_limit"` // in-flight cap of the current wave
	RollingBack    int      `json:"rolling_back"`
	RollbackFailed []string `json:"rollback_failed,omitempty"` // hosts whose rollback failed or timed out
	Excluded       int      `json:"excluded"`                  // hosts whose job could not be built
	Held           bool     `json:"held"`                      // an operator halted the rollout
	Waves          int      `json:"waves"`                     // rings that have hosts
	WaveNumber     int      `json:"wave_number"`               // the current ring's 1-based position among them
}

// ChangeHost is one host of a running or finished change.
type ChangeHost struct {
	HostID       string         `json:"host_id"`
	Hostname     string         `json:"hostname"`
	Ring         int            `json:"ring"`
	Group        string         `json:"group"`
	Tier         int            `json:"tier"`
	Status       string         `json:"status"`
	Phase        string         `json:"phase,omitempty"`
	Dispatched   bool           `json:"dispatched"`
	DispatchedAt *time.Time     `json:"dispatched_at,omitempty"`
	Deadline     *time.Time     `json:"deadline,omitempty"`
	FinishedAt   *time.Time     `json:"finished_at,omitempty"`
	Failed       bool           `json:"failed"`
	Detail       string         `json:"detail,omitempty"`
	Targets      []ChangeTarget `json:"targets,omitempty"`
}

// ChangeTarget is a package version a change installs.
type ChangeTarget struct {
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// ChangeEvent is one entry of a change's history.
type ChangeEvent struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// SignOff is a stakeholder's verdict for one group of a change.
type SignOff struct {
	ChangeID string    `json:"change_id"`
	Group    string    `json:"group"`
	By       string    `json:"by"`
	OK       bool      `json:"ok"`
	Problem  string    `json:"problem,omitempty"`
	KBID     string    `json:"kb_id,omitempty"` // the draft knowledge-base entry a problem opened
	At       time.Time `json:"at"`
}

// RetroNote is a note or action item of a change's retrospective.
type RetroNote struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Kind   string    `json:"kind"` // note, action
	Text   string    `json:"text"`
}

// Exception is a risk acceptance: findings selected by advisory, package,
// host and/or group that an approver accepted until it expires.
type Exception struct {
	ID            string     `json:"id"`
	Team          string     `json:"team"`
	Advisory      string     `json:"advisory,omitempty"`
	Package       string     `json:"package,omitempty"`
	Host          string     `json:"host,omitempty"`
	Group         string     `json:"group,omitempty"`
	Justification string     `json:"justification"`
	RequestedBy   string     `json:"requested_by"`
	RequestedAt   time.Time  `json:"requested_at"`
	ApprovedBy    string     `json:"approved_by,omitempty"`
	ApprovedAt    *time.Time `json:"approved_at,omitempty"`
	ExpiresAt     time.Time  `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	State         string     `json:"state"` // pending, active, expired, revoked
}

// Calendar is a calendar subscription as listed.
type Calendar struct {
	ID        string     `json:"id"`
	Scope     string     `json:"scope"`
	Name      string     `json:"name"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	URL       string     `json:"url,omitempty"` // only in the answer to create
}

// Retrospective is a finished change's timeline, figures, sign-offs and
// notes.
type Retrospective struct {
	Change         string        `json:"change"`
	Title          string        `json:"title"`
	State          string        `json:"state"`
	Teams          []string      `json:"teams"`
	Created        time.Time     `json:"created"`
	Approved       *time.Time    `json:"approved,omitempty"`
	Started        *time.Time    `json:"started,omitempty"`
	Finished       *time.Time    `json:"finished,omitempty"`
	TimeInApproval string        `json:"time_in_approval,omitempty"`
	Duration       string        `json:"duration,omitempty"`
	TimeToSignOff  string        `json:"time_to_signoff,omitempty"`
	Waves          int           `json:"waves"`
	Hosts          int           `json:"hosts"`
	Succeeded      int           `json:"succeeded"`
	Failed         int           `json:"failed"`
	RolledBack     int           `json:"rolled_back"`
	SuccessRate    *float64      `json:"success_rate"`
	Problems       int           `json:"problems"`
	SignOffs       []SignOff     `json:"signoffs"`
	Timeline       []ChangeEvent `json:"timeline"`
	Notes          []RetroNote   `json:"notes"`
}

// KBEntry is a knowledge-base entry: a problem met after patching.
type KBEntry struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Problem   string      `json:"problem"`
	Symptoms  string      `json:"symptoms,omitempty"`
	Fix       string      `json:"fix,omitempty"`
	Packages  []KBPackage `json:"packages"`
	Distro    string      `json:"distro,omitempty"`
	Changes   []string    `json:"changes,omitempty"`
	Hosts     []string    `json:"hosts,omitempty"`
	Status    string      `json:"status"`
	CreatedBy string      `json:"created_by"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// KBPackage is a package (and, optionally, versions) a knowledge-base
// entry is about.
type KBPackage struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions,omitempty"`
}

// EmergencyStop is the answer to pulling or releasing the emergency stop.
type EmergencyStop struct {
	Stopped       bool   `json:"stopped"`
	By            string `json:"by,omitempty"` // who pulled it
	ChangesHalted int    `json:"changes_halted"`
	JobsWithdrawn int    `json:"jobs_withdrawn"`
	ReleasedBy    string `json:"released_by,omitempty"`
}

// AuditEntry is an entry of the audit trail as listed (the hash chain's
// fields are in the export).
type AuditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"` // "POST /api/v1/org/apply", "login.failed", "job.dispatch"
	Target    string    `json:"target"`
	RequestID string    `json:"request_id"`
	Outcome   string    `json:"outcome"`           // "ok", "denied", "error: ..."
	Summary   string    `json:"summary,omitempty"` // what happened, in domain terms
}
