package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Enforcement is a group's rule for servers that stay unpatched: a host is
// non-compliant when it has an open, non-excepted finding that matches the
// rule (Severity or more severe, or in CISA's KEV catalog when KEV is set)
// and whose due date plus Grace has passed. Action says what follows.
type Enforcement struct {
	// Severity is the least severe finding the rule counts; empty counts
	// none by severity (then KEV must be set).
	Severity string `yaml:"severity,omitempty"`
	// KEV counts every KEV finding whatever its severity.
	KEV bool `yaml:"kev,omitempty"`
	// Grace is how long after the due date a finding may stay open: whole
	// days ("3d") or a Go duration ("12h"). Empty: none.
	Grace string `yaml:"grace,omitempty"`
	// Action is EnforceReport, EnforceNotify or EnforceQuarantine.
	Action string `yaml:"action"`
	// Hook is the quarantine hook, by the name the host's own hooks file
	// declares; required for EnforceQuarantine. The agent runs it with
	// the argument "quarantine" or "release".
	Hook string `yaml:"hook,omitempty"`
}

// Enforcement actions.
const (
	EnforceReport     = "report"     // the host is listed as non-compliant
	EnforceNotify     = "notify"     // and its team is notified and escalated
	EnforceQuarantine = "quarantine" // and the host is quarantined by its hook
)

// ParseGrace reads a grace period: whole days ("3d") or a Go duration
// ("12h"); empty is zero; never negative.
func ParseGrace(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 3650 {
			return 0, fmt.Errorf("%q: whole days (3d) or a duration (12h)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: whole days (3d) or a duration (12h)", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: a grace period cannot be negative", s)
	}
	return d, nil
}

func (p *problems) enforcement(path string, e *Enforcement) {
	if e == nil {
		return
	}
	if e.Severity != "" && severityRank(e.Severity) == 0 {
		p.add(path+".severity", "%q is not a severity (critical, high, medium, low)", e.Severity)
	}
	if e.Severity == "" && !e.KEV {
		p.add(path, "the rule counts nothing; set severity, kev: true, or both")
	}
	if _, err := ParseGrace(e.Grace); err != nil {
		p.add(path+".grace", "%v", err)
	}
	switch e.Action {
	case EnforceReport, EnforceNotify:
		if e.Hook != "" {
			p.add(path+".hook", "only action quarantine runs a hook; action is %q", e.Action)
		}
	case EnforceQuarantine:
		if e.Hook == "" {
			p.add(path+".hook", "action quarantine needs the name of the quarantine hook declared in the hosts' hooks file")
		} else if !validHookName(e.Hook) {
			p.add(path+".hook", "hook name %q must match [a-z0-9][a-z0-9_-]{0,63}", e.Hook)
		}
	case "":
		p.add(path+".action", "action is required (report, notify, quarantine)")
	default:
		p.add(path+".action", "%q is not an action (report, notify, quarantine)", e.Action)
	}
}

// validHookName is the agent's rule for hook names (protocol.ValidCommandName).
func validHookName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lowerAlnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lowerAlnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// EnforcedFinding is what the enforcement rule needs to know of a finding.
type EnforcedFinding struct {
	Severity string
	KEV      bool
	Due      time.Time // zero: no due date, never counts
	Open     bool
	Excepted bool // an approved, unexpired exception covers it
}

// Counts reports whether the rule counts f at now: open, not excepted,
// matching by severity or KEV, and past its due date plus grace.
func (e Enforcement) Counts(f EnforcedFinding, now time.Time) bool {
	if !f.Open || f.Excepted || f.Due.IsZero() {
		return false
	}
	matches := e.KEV && f.KEV
	if r := severityRank(e.Severity); r > 0 && severityRank(f.Severity) >= r {
		matches = true
	}
	if !matches {
		return false
	}
	grace, err := ParseGrace(e.Grace)
	if err != nil {
		return false // Validate refuses such a rule
	}
	return now.After(f.Due.Add(grace))
}

// NonCompliant reports whether any of a host's findings counts at now.
func (e Enforcement) NonCompliant(findings []EnforcedFinding, now time.Time) bool {
	for _, f := range findings {
		if e.Counts(f, now) {
			return true
		}
	}
	return false
}

// QuarantineStep is what enforcement does next to one host.
type QuarantineStep int

// Quarantine steps.
const (
	StepNone       QuarantineStep = iota
	StepQuarantine                // send the quarantine job
	StepRelease                   // send the release job
)

func (s QuarantineStep) String() string {
	return [...]string{"none", "quarantine", "release"}[s]
}

// DecideQuarantine is the whole quarantine rule for one host. A host is
// quarantined once per non-compliant period: only when its group's action
// is quarantine, it is non-compliant, it is not quarantined already and no
// freeze covers it. It is released as soon as it is compliant again (a
// change patched it or an exception covers its findings) or its group no
// longer quarantines. A release lifts a restriction, so it also runs
// during a freeze. e is nil when the host's group has no rule.
func DecideQuarantine(e *Enforcement, nonCompliant, quarantined, frozen bool) QuarantineStep {
	enforces := e != nil && e.Action == EnforceQuarantine
	switch {
	case quarantined && (!enforces || !nonCompliant):
		return StepRelease
	case !quarantined && enforces && nonCompliant && !frozen:
		return StepQuarantine
	}
	return StepNone
}
