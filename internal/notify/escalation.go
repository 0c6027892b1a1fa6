package notify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
	"github.com/patchbay/patchbay/internal/policy"
)

// Escalation is the event of a situation (findings past due, a change
// that stopped moving) reaching a step of a team's escalation ladder. It
// is routed by the ladder, not by subscriptions: the step names the roles,
// told over every channel.
const Escalation Kind = "escalation"

// EscalationStep is which step of which team's ladder an escalation event
// is.
type EscalationStep struct {
	Team  string   `json:"team"`
	Step  int      `json:"step"` // from 1
	Of    int      `json:"of"`   // steps in the ladder
	After string   `json:"after"`
	Roles []string `json:"roles"`
}

// ParseAfter reads a step's delay: whole days ("3d") or a Go duration
// ("12h", "90m"); not negative.
func ParseAfter(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
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
		return 0, fmt.Errorf("%q: not negative", s)
	}
	return d, nil
}

// CheckEscalation checks every team's ladder: delays that parse and grow
// from step to step, and at least one known role per step, naming the
// field at fault.
func CheckEscalation(org *policy.Org) error {
	problems := fielderr.List{What: "escalation ladders"}
	for i, t := range org.Teams {
		prev := time.Duration(-1)
		for j, s := range t.Escalation {
			path := fmt.Sprintf("teams[%d].escalation[%d]", i, j)
			d, err := ParseAfter(s.After)
			switch {
			case s.After == "":
				problems.Add(path+".after", "required: how long the situation lasts before this step (0d, 3d, 12h)")
			case err != nil:
				problems.Add(path+".after", "%s", err.Error())
			case d <= prev:
				problems.Add(path+".after", "%s is not later than the step before (%s): steps go from the earliest to the latest", s.After, t.Escalation[j-1].After)
			default:
				prev = d
			}
			if len(s.Notify) == 0 {
				problems.Add(path+".notify", "name at least one role (%s)", strings.Join(recipientRoles, ", "))
			}
			for k, r := range s.Notify {
				if !slices.Contains(recipientRoles, r) {
					problems.Add(fmt.Sprintf("%s.notify[%d]", path, k), "%q is not a recipient role (%s)", r, strings.Join(recipientRoles, ", "))
				}
			}
		}
	}
	return problems.Err()
}

// Escalate returns the escalation events of situation base, which began
// at since: for each team base concerns (through its groups) with a
// ladder, one event per step whose delay has passed at now. Each step's
// event has its own ID (base.ID, the team and the step), so each step is
// told once, and a new situation (another base.ID) starts from the first
// step. base names what it is about (Subject, Text, Link, Host or Change,
// Groups, Author); its groups are narrowed to the team's.
func Escalate(base Event, since, now time.Time, org *policy.Org) []Event {
	var out []Event
	for _, t := range org.Teams {
		if len(t.Escalation) == 0 {
			continue
		}
		var groups []string
		for _, g := range org.Groups {
			if g.Team == t.Name && slices.Contains(base.Groups, g.Name) {
				groups = append(groups, g.Name)
			}
		}
		if len(groups) == 0 {
			continue
		}
		for i, s := range t.Escalation {
			d, err := ParseAfter(s.After)
			if err != nil || now.Sub(since) < d {
				continue
			}
			ev := base
			ev.ID = fmt.Sprintf("%s:escalation:%s:%d", base.ID, t.Name, i+1)
			ev.Kind, ev.At, ev.Groups, ev.Teams = Escalation, now, groups, []string{t.Name}
			ev.Subject = fmt.Sprintf("Escalation %d/%d: %s", i+1, len(t.Escalation), base.Subject)
			ev.Text = fmt.Sprintf("%s\nThis has lasted since %s (step %d of team %s's escalation ladder, after %s: %s).",
				base.Text, since.UTC().Format("2006-01-02 15:04 UTC"), i+1, t.Name, s.After, strings.Join(s.Notify, ", "))
			if i+1 < len(t.Escalation) {
				next := t.Escalation[i+1]
				ev.Text += fmt.Sprintf(" Next: %s after %s.", strings.Join(next.Notify, ", "), next.After)
			}
			ev.Escalation = &EscalationStep{Team: t.Name, Step: i + 1, Of: len(t.Escalation), After: s.After, Roles: slices.Clone(s.Notify)}
			out = append(out, ev)
		}
	}
	return out
}

// Ladder is one step of a team's ladder resolved to people, for the
// console's "who to call".
type Ladder struct {
	After  string
	Roles  []string
	People []string // "alice (sysadmin)"
}

// WhoToCall resolves team's ladder for group to people: the group's
// stakeholder and sysadmin, the team's members by role. author, who
// differs from change to change, is shown as the role.
func WhoToCall(org *policy.Org, group string) []Ladder {
	var g policy.Group
	if i := slices.IndexFunc(org.Groups, func(x policy.Group) bool { return x.Name == group }); i >= 0 {
		g = org.Groups[i]
	} else {
		return nil
	}
	var out []Ladder
	for _, t := range org.Teams {
		if t.Name != g.Team {
			continue
		}
		for _, s := range t.Escalation {
			l := Ladder{After: s.After, Roles: slices.Clone(s.Notify)}
			for _, r := range s.Notify {
				if r == RoleAuthor {
					l.People = append(l.People, "the change's author")
					continue
				}
				for _, u := range resolveRole(Event{}, org, []policy.Group{g}, t.Name, r) {
					if u != "" {
						l.People = append(l.People, u+" ("+r+")")
					}
				}
			}
			out = append(out, l)
		}
	}
	return out
}
