package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// Org is the whole organisation as written in a policy file.
type Org struct {
	Teams   []Team   `yaml:"teams,omitempty"`
	Groups  []Group  `yaml:"groups,omitempty"`
	Rings   []string `yaml:"rings,omitempty,flow"` // ordered: earliest ring first
	Freezes []Freeze `yaml:"freezes,omitempty"`
}

// Team is the unit of ownership and access.
type Team struct {
	Name    string   `yaml:"name"`
	Members []Member `yaml:"members,omitempty"`
	// Policy is the team's default policy; its groups may override it.
	Policy Policy `yaml:"policy,omitempty"`
	// Notifications route the team's events; none: the defaults of
	// package notify (docs/notifications.md).
	Notifications []Subscription `yaml:"notifications,omitempty"`
	// Escalation is who to call, and when, about the team's overdue
	// findings (from their due date) and stuck changes (from when they
	// stopped moving); package notify checks and applies it.
	Escalation []EscalationStep `yaml:"escalation,omitempty"`
}

// EscalationStep tells the roles in Notify once a situation has lasted
// After ("0d", "3d", "12h").
type EscalationStep struct {
	After  string   `yaml:"after"`
	Notify []string `yaml:"notify,flow"`
}

// Subscription routes some of a team's events: which (event names or
// families such as "change.*"; empty: every event), to whom (roles:
// stakeholder, sysadmin, approver, author, security, admin, operator;
// empty: each event's default roles) and over which channels (empty:
// every configured channel). Package notify checks the names.
type Subscription struct {
	Events   []string `yaml:"events,omitempty,flow"`
	Roles    []string `yaml:"roles,omitempty,flow"`
	Channels []string `yaml:"channels,omitempty,flow"`
}

// Member gives a user a role in a team.
type Member struct {
	User string `yaml:"user"`
	Role string `yaml:"role"`
}

// Roles a user or API token holds fleet-wide, or a member holds in a team;
// access.go says what each may do.
const (
	RoleAdmin       = "admin"
	RoleSecurity    = "security"
	RoleOperator    = "operator"
	RoleApprover    = "approver"
	RoleStakeholder = "stakeholder"
	RoleAuditor     = "auditor" // read-only
)

var roles = []string{RoleAdmin, RoleSecurity, RoleOperator, RoleApprover, RoleStakeholder, RoleAuditor}

// Group selects hosts and says who owns them, how they matter and how and
// when they are patched.
type Group struct {
	Name        string   `yaml:"name"`
	Team        string   `yaml:"team"`
	Selector    Selector `yaml:"selector"`
	Stakeholder string   `yaml:"stakeholder"` // owns the hosts
	Sysadmin    string   `yaml:"sysadmin"`    // patches the hosts
	Criticality int      `yaml:"criticality"` // 1 (low) to 5 (high)
	Exposure    string   `yaml:"exposure"`    // ExposureInternet or ExposureInternal
	Ring        string   `yaml:"ring"`        // one of Org.Rings
	// Reboot is RebootIfRequired (the default when empty), RebootNever,
	// RebootAlways or RebootRestartServices.
	Reboot      string       `yaml:"reboot,omitempty"`
	RebootOrder []RebootTier `yaml:"reboot_order,omitempty"`
	Windows     []WindowSpec `yaml:"windows,omitempty"`
	// Policy overrides the team's policy field by field.
	Policy Policy `yaml:"policy,omitempty"`
	// Enforcement, when set, is what happens to the group's hosts that
	// stay unpatched past their due dates (enforcement.go).
	Enforcement *Enforcement `yaml:"enforcement,omitempty"`
}

// Exposure values.
const (
	ExposureInternet = "internet"
	ExposureInternal = "internal"
)

// Reboot policies.
const (
	RebootIfRequired = "if-required"
	RebootNever      = "never"
	RebootAlways     = "always"
	// RebootRestartServices reboots a host that needs a reboot and, where
	// only services need a restart (needrestart, needs-restarting), restarts
	// those instead.
	RebootRestartServices = "restart-services"
)

// Selector picks a group's hosts: either by labels (every label must match)
// or by a static list of host IDs or hostnames. Exactly one is set.
type Selector struct {
	Labels map[string]string `yaml:"labels,omitempty,flow"`
	Hosts  []string          `yaml:"hosts,omitempty,flow"`
}

// RebootTier is one step of a group's reboot order: hosts with these labels
// reboot together, after the tiers listed before it.
type RebootTier struct {
	Tier   string            `yaml:"tier"`
	Labels map[string]string `yaml:"labels,flow"`
}

// WindowSpec is a maintenance window as written; the schedule package turns
// it into times. RRule is an RFC 5545 recurrence, Start a local "HH:MM" in TZ,
// OffsetDays shifts each occurrence (the Patch-Tuesday pattern) and
// MaxRandomDelay spreads starts within the window.
type WindowSpec struct {
	Name           string        `yaml:"name"`
	RRule          string        `yaml:"rrule"`
	Start          string        `yaml:"start"`
	Duration       time.Duration `yaml:"duration"`
	TZ             string        `yaml:"tz"`
	OffsetDays     int           `yaml:"offset_days,omitempty"`
	MaxRandomDelay time.Duration `yaml:"max_random_delay,omitempty"`
}

// Freeze is a period in which no change starts, overriding windows.
type Freeze struct {
	Name  string    `yaml:"name"`
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
	// Scope is "global" or "team:NAME".
	Scope  string `yaml:"scope"`
	Reason string `yaml:"reason,omitempty"`
}

// ScopeGlobal is the scope of a freeze that applies to every team.
const ScopeGlobal = "global"

// maxInput bounds what Parse accepts; a policy file is small.
const maxInput = 4 << 20

// Parse decodes a policy file strictly: an unknown field is an error naming
// the field and its line. Parse does not validate references or values; call
// Validate for that.
func Parse(data []byte) (*Org, error) {
	if len(data) > maxInput {
		return nil, fmt.Errorf("parse policy: file is %d bytes; the limit is %d", len(data), maxInput)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var o Org
	if err := dec.Decode(&o); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("parse policy: the file is empty")
		}
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("parse policy: %w", err)
		}
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, fmt.Errorf("parse policy: line %d: a second YAML document; put everything in one document", line)
	}
	return &o, nil
}
