package metrics

import "time"

// Finding is one vulnerable package on one host, as stored, with the facts
// the KPIs need. Team, Group and Ring are those of the finding's host.
type Finding struct {
	ID       string `json:"id"`
	HostID   string `json:"host_id"`
	Team     string `json:"team"`
	Group    string `json:"group"`
	Ring     string `json:"ring"`
	Severity string `json:"severity"` // critical, high, medium, low, or "" when unknown
	KEV      bool   `json:"kev"`
	// Criticality is the host's criticality when the finding was scored; host
	// KPIs use Host.Criticality instead.
	Criticality int     `json:"criticality"`
	Priority    float64 `json:"priority"`
	// Published is when the advisory was published; zero if unknown.
	Published      time.Time  `json:"published"`
	FirstSeen      time.Time  `json:"first_seen"`
	FixAvailableAt *time.Time `json:"fix_available_at,omitempty"`
	// ResolvedAt is when the fixed version was verified on the host.
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	DueAt      *time.Time `json:"due_at,omitempty"`
	// Excepted and Held are the finding's current status; the store keeps no
	// history of them, so every point of a series uses the current status.
	Excepted bool `json:"excepted"`
	Held     bool `json:"held"`
	// Owner is who must act: the group's stakeholder or sysadmin.
	Owner string `json:"owner"`
}

// Host is an enrolled host.
type Host struct {
	ID          string `json:"id"`
	Team        string `json:"team"`
	Group       string `json:"group"`
	Ring        string `json:"ring"`
	Criticality int    `json:"criticality"` // 1..5
}

// Job is one host's part of a change.
type Job struct {
	ChangeID     string     `json:"change_id"`
	HostID       string     `json:"host_id"`
	Dispatched   time.Time  `json:"dispatched"`
	Finished     *time.Time `json:"finished,omitempty"`
	OK           bool       `json:"ok"`
	FirstAttempt bool       `json:"first_attempt"`
	RolledBack   bool       `json:"rolled_back"`
	VerifiedAt   *time.Time `json:"verified_at,omitempty"`
}

// Change is a change request.
type Change struct {
	ID               string     `json:"id"`
	Team             string     `json:"team"`
	Completed        *time.Time `json:"completed,omitempty"`
	ProblemsReported int        `json:"problems_reported"`
}

// Input is the stored history the KPIs are computed from.
type Input struct {
	Findings []Finding
	Hosts    []Host
	Jobs     []Job
	Changes  []Change
}

// Filter narrows a report to a slice of the fleet and a period. Empty fields
// match everything. Severity "unknown" matches findings without a severity.
// From and To are UTC calendar days (their time of day is ignored), both
// included; see Compute for the defaults.
type Filter struct {
	Team     string    `json:"team,omitempty"`
	Group    string    `json:"group,omitempty"`
	Ring     string    `json:"ring,omitempty"`
	Severity string    `json:"severity,omitempty"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}
