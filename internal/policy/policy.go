package policy

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy says how fast findings must be fixed and what may be patched
// without a human. A team sets one; a group overrides it field by field.
// Zero fields mean "inherit" (or, at the top, the defaults of DefaultPolicy).
// The YAML field sla_days is the Go field SLA; SLADays is the lookup.
type Policy struct {
	// SLA maps a severity (critical, high, medium, low) to the days a
	// finding may stay open, counted from first seen.
	SLA map[string]int `yaml:"sla_days,omitempty,flow"`
	// KEV is the rule for findings in CISA's KEV catalog: KEVCISADueDate,
	// KEVSLA, or "days:N".
	KEV string `yaml:"kev,omitempty"`
	// AutoApproveRules are tried in order (YAML: auto_approve). A group that sets the list
	// (even to []) replaces the team's list.
	AutoApproveRules []AutoApproveRule `yaml:"auto_approve,omitempty"`
	// Holds keep packages back. A group's holds add to its team's.
	Holds []Hold `yaml:"holds,omitempty"`
}

// KEV rules.
const (
	// KEVCISADueDate: due on CISA's due date when that is sooner than the SLA.
	KEVCISADueDate = "cisa_due_date"
	// KEVSLA: the severity SLA only; CISA's due date is ignored.
	KEVSLA = "sla"
	// KEVDaysPrefix starts "days:N": due within N days of first seen, or on
	// CISA's due date or by the SLA when either is sooner.
	KEVDaysPrefix = "days:"
)

// Severities, most severe first.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

var severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow}

// severityRank orders severities (low 1 … critical 4); 0 is unknown. Red Hat's
// "important" and "moderate" are accepted as high and medium.
func severityRank(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case SeverityCritical:
		return 4
	case SeverityHigh, "important":
		return 3
	case SeverityMedium, "moderate":
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

func severityName(rank int) string {
	switch rank {
	case 4:
		return SeverityCritical
	case 3:
		return SeverityHigh
	case 2:
		return SeverityMedium
	case 1:
		return SeverityLow
	}
	return ""
}

// AutoApproveRule approves a change without a human when it matches.
type AutoApproveRule struct {
	Name string `yaml:"name"`
	// SecurityOnly restricts the rule to security updates.
	SecurityOnly bool `yaml:"security_only,omitempty"`
	// MinSeverity is the lowest severity the rule approves; empty approves
	// any, including changes with no severity.
	MinSeverity string `yaml:"min_severity,omitempty"`
	// MinAgeDays is how many days an update must have been released.
	MinAgeDays int `yaml:"min_age_days,omitempty"`
	// MaxRing is the latest ring the rule approves for; empty means all.
	MaxRing string `yaml:"max_ring,omitempty"`
}

// Hold keeps a package back until a date, with a reason that reports show.
type Hold struct {
	// Package is a package name or a path.Match pattern ("linux-image-*").
	Package string `yaml:"package"`
	Reason  string `yaml:"reason"`
	// Until is the last day (or instant) of the hold; zero holds forever. A
	// date without a time of day holds through the end of that day, UTC.
	Until time.Time `yaml:"until,omitempty"`
}

// Expires returns the instant the hold stops applying, zero for never.
func (h Hold) Expires() time.Time {
	if h.Until.IsZero() {
		return time.Time{}
	}
	if h.wholeDay() {
		return h.Until.UTC().AddDate(0, 0, 1)
	}
	return h.Until
}

// wholeDay reports whether Until is a plain date: midnight UTC, which is
// what YAML makes of "2026-12-31" (and also of "2026-12-31T00:00:00Z").
func (h Hold) wholeDay() bool {
	_, offset := h.Until.Zone()
	u := h.Until.UTC()
	return offset == 0 && u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 && u.Nanosecond() == 0
}

// Matches reports whether the hold names pkg.
func (h Hold) Matches(pkg string) bool {
	if h.Package == pkg {
		return true
	}
	ok, err := path.Match(h.Package, pkg)
	return err == nil && ok
}

// ActiveAt reports whether the hold applies at now.
func (h Hold) ActiveAt(now time.Time) bool {
	exp := h.Expires()
	return exp.IsZero() || now.Before(exp)
}

// DefaultPolicy is the policy of a host no team has a word on: critical 15
// days, high 30, medium 90, low 180; KEV findings due on CISA's date when
// sooner; nothing auto-approved; nothing held.
func DefaultPolicy() Policy {
	return Policy{
		SLA: map[string]int{SeverityCritical: 15, SeverityHigh: 30, SeverityMedium: 90, SeverityLow: 180},
		KEV: KEVCISADueDate,
	}
}

// SLADays returns the days a finding of severity sev may stay open. A
// severity the policy does not name takes the default's days; an unknown
// severity is treated as medium, as the risk package does.
func (p Policy) SLADays(sev string) int {
	name := severityName(severityRank(sev))
	if name == "" {
		name = SeverityMedium
	}
	if d, ok := p.SLA[name]; ok && d > 0 {
		return d
	}
	return DefaultPolicy().SLA[name]
}

// KEVRule returns the KEV rule in the terms of risk.SLAPolicy: whether CISA's
// due date wins when sooner, and a cap in days (0 for none).
func (p Policy) KEVRule() (useCISADue bool, maxDays int) {
	switch {
	case p.KEV == KEVSLA:
		return false, 0
	case strings.HasPrefix(p.KEV, KEVDaysPrefix):
		n, err := strconv.Atoi(strings.TrimPrefix(p.KEV, KEVDaysPrefix))
		if err == nil && n > 0 {
			return true, n
		}
	}
	return true, 0 // KEVCISADueDate and the default
}

// kevStrictness orders KEV rules: sla < cisa_due_date < days:N, and among
// days:N the smaller N is stricter.
func kevStrictness(rule string) int {
	use, days := Policy{KEV: rule}.KEVRule()
	switch {
	case !use:
		return 0
	case days == 0:
		return 1
	}
	return 1 << 30 / days
}

// Held reports whether pkg is held back at now, and by which hold. When
// several holds name it, the one lasting longest is returned.
func (p Policy) Held(pkg string, now time.Time) (Hold, bool) {
	var best Hold
	found := false
	for _, h := range p.Holds {
		if !h.Matches(pkg) || !h.ActiveAt(now) {
			continue
		}
		if !found || lastsLonger(h, best) {
			best, found = h, true
		}
	}
	return best, found
}

func lastsLonger(a, b Hold) bool {
	ea, eb := a.Expires(), b.Expires()
	if ea.IsZero() || eb.IsZero() {
		return ea.IsZero() && !eb.IsZero()
	}
	return ea.After(eb)
}

// ChangeFacts describe a proposed change for auto-approval.
type ChangeFacts struct {
	Severity     string // highest severity the change fixes; empty if none
	SecurityOnly bool   // the change contains only security updates
	AgeDays      int    // days since the newest update in it was released
	Ring         string // the ring of the hosts it targets
}

// AutoApprove returns the name of the first rule that approves c, given the
// ordered rings. A ring that is not in rings matches no rule that names a
// MaxRing.
func (p Policy) AutoApprove(c ChangeFacts, rings []string) (rule string, ok bool) {
	for _, r := range p.AutoApproveRules {
		if r.approves(c, rings) {
			return r.Name, true
		}
	}
	return "", false
}

func (r AutoApproveRule) approves(c ChangeFacts, rings []string) bool {
	if r.SecurityOnly && !c.SecurityOnly {
		return false
	}
	if r.MinSeverity != "" {
		want := severityRank(r.MinSeverity)
		if want == 0 || severityRank(c.Severity) < want {
			return false
		}
	}
	if c.AgeDays < r.MinAgeDays {
		return false
	}
	if r.MaxRing != "" {
		max, at := slices.Index(rings, r.MaxRing), slices.Index(rings, c.Ring)
		if max < 0 || at < 0 || at > max {
			return false
		}
	}
	return true
}

// override applies a group's policy on top of base, field by field.
func (base Policy) override(o Policy) Policy {
	out := Policy{KEV: base.KEV, AutoApproveRules: base.AutoApproveRules}
	if len(base.SLA)+len(o.SLA) > 0 {
		out.SLA = make(map[string]int, len(base.SLA)+len(o.SLA))
		for k, v := range base.SLA {
			out.SLA[k] = v
		}
		for k, v := range o.SLA {
			out.SLA[k] = v
		}
	}
	if o.KEV != "" {
		out.KEV = o.KEV
	}
	if o.AutoApproveRules != nil {
		out.AutoApproveRules = o.AutoApproveRules
	}
	out.Holds = appendHolds(slices.Clone(base.Holds), o.Holds)
	return out
}

// appendHolds adds the holds of more that dst does not already have.
func appendHolds(dst, more []Hold) []Hold {
	for _, h := range more {
		if !slices.ContainsFunc(dst, func(x Hold) bool { return x.Package == h.Package && x.Reason == h.Reason && x.Until.Equal(h.Until) }) {
			dst = append(dst, h)
		}
	}
	return dst
}

// strictest combines the resolved policies of several groups: the smallest
// SLA per severity, the strictest KEV rule, the union of holds and only the
// auto-approval rules every policy has.
func strictest(ps []Policy) Policy {
	if len(ps) == 0 {
		return DefaultPolicy()
	}
	out := Policy{SLA: map[string]int{}, KEV: ps[0].KEV, AutoApproveRules: slices.Clone(ps[0].AutoApproveRules)}
	for _, p := range ps {
		for _, sev := range severities {
			d := p.SLADays(sev)
			if cur, ok := out.SLA[sev]; !ok || d < cur {
				out.SLA[sev] = d
			}
		}
		if kevStrictness(p.KEV) > kevStrictness(out.KEV) {
			out.KEV = p.KEV
		}
		out.AutoApproveRules = slices.DeleteFunc(out.AutoApproveRules, func(r AutoApproveRule) bool {
			return !slices.Contains(p.AutoApproveRules, r)
		})
		out.Holds = appendHolds(out.Holds, p.Holds)
	}
	return out
}

// resolved fills every field of p from the defaults.
func (p Policy) resolved() Policy {
	out := DefaultPolicy().override(p)
	for _, sev := range severities {
		out.SLA[sev] = p.SLADays(sev)
	}
	return out
}
