package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// Hooks let the caller check what this package cannot know. A nil hook is not
// called.
type Hooks struct {
	// ValidateWindow checks a window's recurrence, time zone and so on.
	ValidateWindow func(w WindowSpec) error
	// KnownUser reports whether a user exists.
	KnownUser func(name string) bool
	// KnownTeam reports whether a team exists outside this file (a group
	// may name a team the file does not define).
	KnownTeam func(name string) bool
}

// problems gathers what is wrong, each at its field path.
type problems struct{ fielderr.List }

func (p *problems) add(path, format string, args ...any) { p.Add(path, format, args...) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (p *problems) name(path, kind, name string) {
	switch {
	case name == "":
		p.add(path, "%s name is required", kind)
	case !nameRE.MatchString(name):
		p.add(path, "%q is not a valid %s name (lower-case letters, digits, '.', '_', '-'; at most 63)", name, kind)
	}
}

// requiredUnique reports a missing name, or a duplicate of one among
// earlier entries (see unique).
func (p *problems) requiredUnique(seen map[string]string, path, kind, name string) {
	if name == "" {
		p.add(path, "%s name is required", kind)
		return
	}
	p.unique(seen, path, kind, name)
}

// unique reports a duplicate of name among earlier entries; seen maps a
// name to the path where it first appeared.
func (p *problems) unique(seen map[string]string, path, kind, name string) {
	if name == "" {
		return
	}
	if first, ok := seen[name]; ok {
		p.add(path, "duplicate %s %q (first at %s)", kind, name, first)
		return
	}
	seen[name] = path
}

// Validate checks the organisation and returns a *fielderr.List listing
// every problem, or nil. A hold whose date has passed is valid: it has
// simply expired.
func (o *Org) Validate(h Hooks) error {
	var p problems
	ringSeen := map[string]string{}
	for i, r := range o.Rings {
		path := fmt.Sprintf("rings[%d]", i)
		p.name(path, "ring", r)
		p.unique(ringSeen, path, "ring", r)
	}
	teamSeen := map[string]string{}
	for i, t := range o.Teams {
		path := fmt.Sprintf("teams[%d]", i)
		p.name(path+".name", "team", t.Name)
		p.unique(teamSeen, path+".name", "team", t.Name)
		userSeen := map[string]string{}
		for j, m := range t.Members {
			mp := fmt.Sprintf("%s.members[%d]", path, j)
			p.user(h, mp+".user", m.User, true)
			p.unique(userSeen, mp+".user", "member", m.User)
			if !slices.Contains(roles, m.Role) {
				p.add(mp+".role", "%q is not a role (%s)", m.Role, strings.Join(roles, ", "))
			}
		}
		p.policy(path+".policy", t.Policy, o.Rings)
	}
	groupSeen := map[string]string{}
	for i, g := range o.Groups {
		p.group(fmt.Sprintf("groups[%d]", i), g, o, teamSeen, groupSeen, h)
	}
	freezeSeen := map[string]string{}
	for i, f := range o.Freezes {
		path := fmt.Sprintf("freezes[%d]", i)
		p.name(path+".name", "freeze", f.Name)
		p.unique(freezeSeen, path+".name", "freeze", f.Name)
		switch {
		case f.Start.IsZero():
			p.add(path+".start", "start is required")
		case f.End.IsZero():
			p.add(path+".end", "end is required")
		case !f.End.After(f.Start):
			p.add(path+".end", "end %s is not after start %s", f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339))
		}
		if team, ok := strings.CutPrefix(f.Scope, "team:"); ok {
			p.team(h, path+".scope", team, teamSeen)
		} else if f.Scope != ScopeGlobal {
			p.add(path+".scope", "%q is not a scope (global or team:NAME)", f.Scope)
		}
	}
	p.What = "policy"
	return p.Err()
}

func (p *problems) user(h Hooks, path, user string, required bool) {
	switch {
	case user == "":
		if required {
			p.add(path, "user is required")
		}
	case h.KnownUser != nil && !h.KnownUser(user):
		p.add(path, "unknown user %q", user)
	}
}

func (p *problems) team(h Hooks, path, team string, defined map[string]string) {
	if team == "" {
		p.add(path, "team is required")
		return
	}
	if _, ok := defined[team]; ok {
		return
	}
	if h.KnownTeam != nil && h.KnownTeam(team) {
		return
	}
	p.add(path, "unknown team %q", team)
}

func (p *problems) ring(path, ring string, rings []string, required bool) {
	if ring == "" {
		if required {
			p.add(path, "ring is required (one of %s)", listOrNone(rings))
		}
		return
	}
	if !slices.Contains(rings, ring) {
		p.add(path, "%q is not a ring (%s)", ring, listOrNone(rings))
	}
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no rings are defined; add a top-level rings list"
	}
	return strings.Join(l, ", ")
}

func (p *problems) group(path string, g Group, o *Org, teams, seen map[string]string, h Hooks) {
	p.name(path+".name", "group", g.Name)
	p.unique(seen, path+".name", "group", g.Name)
	p.team(h, path+".team", g.Team, teams)

	sel := path + ".selector"
	switch {
	case g.Selector.Labels != nil && g.Selector.Hosts != nil:
		p.add(sel, "set either labels or hosts, not both")
	case len(g.Selector.Labels) == 0 && len(g.Selector.Hosts) == 0:
		p.add(sel, "selector is empty; set labels or hosts")
	}
	p.labels(sel+".labels", g.Selector.Labels)
	hostSeen := map[string]string{}
	for j, host := range g.Selector.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", sel, j)
		if strings.TrimSpace(host) == "" {
			p.add(hp, "host is empty")
		}
		p.unique(hostSeen, hp, "host", host)
	}

	p.user(h, path+".stakeholder", g.Stakeholder, true)
	p.user(h, path+".sysadmin", g.Sysadmin, true)
	if g.Criticality < 1 || g.Criticality > 5 {
		p.add(path+".criticality", "%d is out of range (1 to 5)", g.Criticality)
	}
	if g.Exposure != ExposureInternet && g.Exposure != ExposureInternal {
		p.add(path+".exposure", "%q is not an exposure (internet, internal)", g.Exposure)
	}
	p.ring(path+".ring", g.Ring, o.Rings, true)
	switch g.Reboot {
	case "", RebootIfRequired, RebootNever, RebootAlways, RebootRestartServices:
	default:
		p.add(path+".reboot", "%q is not a reboot policy (if-required, restart-services, never, always)", g.Reboot)
	}
	tierSeen := map[string]string{}
	for j, t := range g.RebootOrder {
		tp := fmt.Sprintf("%s.reboot_order[%d]", path, j)
		p.requiredUnique(tierSeen, tp+".tier", "tier", t.Tier)
		if len(t.Labels) == 0 {
			p.add(tp+".labels", "labels are required to pick the tier's hosts")
		}
		p.labels(tp+".labels", t.Labels)
	}
	winSeen := map[string]string{}
	for j, w := range g.Windows {
		wp := fmt.Sprintf("%s.windows[%d]", path, j)
		p.window(wp, w, h)
		p.unique(winSeen, wp+".name", "window", w.Name)
	}
	p.policy(path+".policy", g.Policy, o.Rings)
	p.enforcement(path+".enforcement", g.Enforcement)
}

func (p *problems) labels(path string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		if strings.TrimSpace(k) == "" {
			p.add(path, "a label key is empty")
		}
	}
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func (p *problems) window(path string, w WindowSpec, h Hooks) {
	if w.Name == "" {
		p.add(path+".name", "window name is required")
	}
	if w.RRule == "" {
		p.add(path+".rrule", "rrule is required (for example FREQ=WEEKLY;BYDAY=SA)")
	}
	if !clockRE.MatchString(w.Start) {
		p.add(path+".start", "%q is not a time of day (HH:MM, 24-hour)", w.Start)
	}
	if w.Duration <= 0 {
		p.add(path+".duration", "duration must be positive (for example 4h)")
	} else if w.Duration > 7*24*time.Hour {
		p.add(path+".duration", "%s is longer than a week", w.Duration)
	}
	if w.TZ == "" {
		p.add(path+".tz", "tz is required (an IANA zone such as Europe/Berlin)")
	}
	if w.OffsetDays < -31 || w.OffsetDays > 31 {
		p.add(path+".offset_days", "%d is out of range (-31 to 31)", w.OffsetDays)
	}
	if w.MaxRandomDelay < 0 {
		p.add(path+".max_random_delay", "must not be negative")
	} else if w.Duration > 0 && w.MaxRandomDelay >= w.Duration {
		p.add(path+".max_random_delay", "%s leaves no time in a %s window", w.MaxRandomDelay, w.Duration)
	}
	if h.ValidateWindow != nil {
		if err := h.ValidateWindow(w); err != nil {
			p.Problems = append(p.Problems, fielderr.Within(path, err)...)
		}
	}
}

func (p *problems) policy(path string, pol Policy, rings []string) {
	for _, sev := range sortedKeys(pol.SLA) {
		if !slices.Contains(severities, sev) {
			p.add(path+".sla_days."+sev, "%q is not a severity (%s)", sev, strings.Join(severities, ", "))
		} else if d := pol.SLA[sev]; d <= 0 {
			p.add(path+".sla_days."+sev, "%d days; must be more than 0", d)
		}
	}
	switch {
	case pol.KEV == "", pol.KEV == KEVCISADueDate, pol.KEV == KEVSLA:
	case strings.HasPrefix(pol.KEV, KEVDaysPrefix):
		if n, err := strconv.Atoi(strings.TrimPrefix(pol.KEV, KEVDaysPrefix)); err != nil || n <= 0 {
			p.add(path+".kev", "%q: days must be a whole number more than 0 (for example days:7)", pol.KEV)
		}
	default:
		p.add(path+".kev", "%q is not a KEV rule (cisa_due_date, sla, days:N)", pol.KEV)
	}
	ruleSeen := map[string]string{}
	for i, r := range pol.AutoApproveRules {
		rp := fmt.Sprintf("%s.auto_approve[%d]", path, i)
		p.requiredUnique(ruleSeen, rp+".name", "rule", r.Name)
		if r.MinSeverity != "" && !slices.Contains(severities, r.MinSeverity) {
			p.add(rp+".min_severity", "%q is not a severity (%s)", r.MinSeverity, strings.Join(severities, ", "))
		}
		if r.MinAgeDays < 0 {
			p.add(rp+".min_age_days", "%d; must be 0 or more", r.MinAgeDays)
		}
		p.ring(rp+".max_ring", r.MaxRing, rings, false)
	}
	for i, hold := range pol.Holds {
		hp := fmt.Sprintf("%s.holds[%d]", path, i)
		if hold.Package == "" {
			p.add(hp+".package", "package is required")
		} else if _, err := pathMatchCheck(hold.Package); err != nil {
			p.add(hp+".package", "%q is not a valid pattern: %v", hold.Package, err)
		}
		if strings.TrimSpace(hold.Reason) == "" {
			p.add(hp+".reason", "reason is required; reports show it next to the held package")
		}
	}
}
