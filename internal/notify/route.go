package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/patchbay/patchbay/internal/fielderr"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/policy"
)

// Roles a recipient is told in. Stakeholder and sysadmin come from the
// event's groups; approver, security, admin and operator are the members
// of the event's teams with that role; author is the event's author.
const (
	RoleStakeholder = "stakeholder"
	RoleSysadmin    = "sysadmin"
	RoleApprover    = "approver"
	RoleAuthor      = "author"
	RoleSecurity    = "security"
	RoleAdmin       = "admin"
	RoleOperator    = "operator"
)

var recipientRoles = []string{RoleStakeholder, RoleSysadmin, RoleApprover, RoleAuthor, RoleSecurity, RoleAdmin, RoleOperator}

// Console is the channel every message is also written to: the delivery
// log in the console and the CLI, delivered as it is written.
const Console = "console"

// Defaults are the roles told of each event when a team subscribes to
// nothing (and when a subscription names no roles).
var Defaults = map[Kind][]string{
	ChangePendingApproval:       {RoleApprover, RoleAuthor},
	ChangeApproved:              {RoleAuthor, RoleSysadmin, RoleStakeholder},
	ChangeScheduled:             {RoleAuthor, RoleSysadmin, RoleStakeholder},
	ChangeStarted:               {RoleAuthor, RoleSysadmin, RoleStakeholder},
	ChangeHalted:                {RoleAuthor, RoleSysadmin, RoleStakeholder, RoleApprover},
	ChangeRolledBack:            {RoleAuthor, RoleSysadmin, RoleStakeholder},
	ChangeRollbackFailed:        {RoleAuthor, RoleSysadmin, RoleStakeholder, RoleApprover},
	ChangeAwaitingSignOff:       {RoleAuthor, RoleSysadmin},
	ChangeCompleted:             {RoleAuthor, RoleSysadmin, RoleStakeholder},
	ChangeCompletedWithProblems: {RoleAuthor, RoleSysadmin, RoleStakeholder, RoleApprover},
	SignOffRequested:            {RoleStakeholder},
	SignOffProblem:              {RoleAuthor, RoleSysadmin},
	EmergencyStop:               {RoleSysadmin, RoleApprover, RoleAdmin},
	EmergencyRelease:            {RoleSysadmin, RoleApprover, RoleAdmin},
	FeedSyncFailed:              {RoleSecurity, RoleAdmin},
	HostStale:                   {RoleSysadmin},
	HostQuarantined:             {RoleSysadmin, RoleStakeholder, RoleSecurity},
	HostReleased:                {RoleSysadmin, RoleStakeholder, RoleSecurity},
	FindingOverdue:              {RoleSysadmin, RoleStakeholder},
	FindingKEV:                  {RoleSysadmin, RoleSecurity},
	ExceptionExpiring:           {RoleAuthor, RoleStakeholder, RoleSysadmin},
	ExceptionExpired:            {RoleAuthor, RoleStakeholder, RoleSysadmin},
	Escalation:                  {}, // the ladder's step names the roles
	Test:                        {},
}

// Delivery is one message to send: a recipient over a channel.
type Delivery struct {
	Recipient string
	Role      string // the first role the recipient is told in
	Channel   string
}

// Key is the idempotency key of the message of ev to d: the same for every
// attempt and every observation of the occurrence.
func (d Delivery) Key(ev Event) string {
	h := sha256.Sum256([]byte(string(ev.Kind) + "\x00" + ev.ID + "\x00" + d.Recipient + "\x00" + d.Channel))
	return hex.EncodeToString(h[:16])
}

// Route resolves ev to deliveries: for each team the event concerns, the
// team's subscriptions that match it (or, with none, the default roles
// over every channel), each role resolved to users by org. channels are
// the configured channels; every recipient is also written to Console.
// An event that names no group and no team concerns every team. The
// result is sorted by recipient then channel, one delivery per pair.
func Route(ev Event, org *policy.Org, channels []string) []Delivery {
	if ev.Kind == Escalation {
		return routeEscalation(ev, org, channels)
	}
	groups := concernedGroups(ev, org)
	teams := slices.Clone(ev.Teams)
	for _, g := range groups {
		teams = append(teams, g.Team)
	}
	if len(ev.Groups) == 0 && len(ev.Teams) == 0 {
		for _, t := range org.Teams {
			teams = append(teams, t.Name)
		}
	}
	slices.Sort(teams)
	teams = slices.Compact(teams)
	seen := map[[2]string]bool{}
	var out []Delivery
	add := func(user, role, channel string) {
		if user == "" || seen[[2]string{user, channel}] {
			return
		}
		seen[[2]string{user, channel}] = true
		out = append(out, Delivery{Recipient: user, Role: role, Channel: channel})
	}
	tell := func(team string, roles, chans []string) {
		for _, role := range roles {
			for _, user := range resolveRole(ev, org, groups, team, role) {
				add(user, role, Console)
				for _, c := range chans {
					add(user, role, c)
				}
			}
		}
	}
	for _, team := range teams {
		subs := teamSubscriptions(org, team)
		if len(subs) == 0 {
			tell(team, Defaults[ev.Kind], channels)
			continue
		}
		for _, s := range subs {
			if len(s.Events) > 0 && !slices.ContainsFunc(s.Events, func(p string) bool { return Matches(p, ev.Kind) }) {
				continue
			}
			roles := s.Roles
			if len(roles) == 0 {
				roles = Defaults[ev.Kind]
			}
			chans := channels
			if len(s.Channels) > 0 {
				chans = slices.DeleteFunc(slices.Clone(s.Channels), func(c string) bool { return !slices.Contains(channels, c) })
			}
			tell(team, roles, chans)
		}
	}
	if len(teams) == 0 && ev.Author != "" { // no organisation yet: at least the author hears
		for _, c := range append([]string{Console}, channels...) {
			add(ev.Author, RoleAuthor, c)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		return strings.Compare(a.Recipient+"\x00"+a.Channel, b.Recipient+"\x00"+b.Channel)
	})
	return out
}

func concernedGroups(ev Event, org *policy.Org) []policy.Group {
	var out []policy.Group
	for _, g := range org.Groups {
		if slices.Contains(ev.Groups, g.Name) || (len(ev.Groups) == 0 && (len(ev.Teams) == 0 || slices.Contains(ev.Teams, g.Team))) {
			out = append(out, g)
		}
	}
	return out
}

func teamSubscriptions(org *policy.Org, team string) []policy.Subscription {
	for _, t := range org.Teams {
		if t.Name == team {
			return t.Notifications
		}
	}
	return nil
}

// resolveRole names the users holding role for team in ev.
func resolveRole(ev Event, org *policy.Org, groups []policy.Group, team, role string) []string {
	var out []string
	switch role {
	case RoleAuthor:
		out = append(out, ev.Author)
	case RoleStakeholder, RoleSysadmin:
		for _, g := range groups {
			if g.Team != team {
				continue
			}
			if role == RoleStakeholder {
				out = append(out, g.Stakeholder)
			} else {
				out = append(out, g.Sysadmin)
			}
		}
	default:
		for _, t := range org.Teams {
			if t.Name != team {
				continue
			}
			for _, m := range t.Members {
				if m.Role == role {
					out = append(out, m.User)
				}
			}
		}
	}
	return out
}

// CheckSubscriptions checks every team's subscriptions against the events,
// roles and channels there are, naming the field at fault.
func CheckSubscriptions(org *policy.Org, channels []string) error {
	problems := fielderr.List{What: "notification subscriptions"}
	for i, t := range org.Teams {
		for j, s := range t.Notifications {
			path := fmt.Sprintf("teams[%d].notifications[%d]", i, j)
			for k, e := range s.Events {
				if !validPattern(e) {
					problems.Add(fmt.Sprintf("%s.events[%d]", path, k), "%q names no event (events: %s, or a family such as change.*)", e, kindList())
				}
			}
			for k, r := range s.Roles {
				if !slices.Contains(recipientRoles, r) {
					problems.Add(fmt.Sprintf("%s.roles[%d]", path, k), "%q is not a recipient role (%s)", r, strings.Join(recipientRoles, ", "))
				}
			}
			for k, c := range s.Channels {
				if c != Console && !slices.Contains(channels, c) {
					problems.Add(fmt.Sprintf("%s.channels[%d]", path, k), "no channel %q is configured (channels: %s)", c, strings.Join(append([]string{Console}, channels...), ", "))
				}
			}
		}
	}
	return problems.Err()
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// routeEscalation tells the roles of ev's ladder step, for its team, over
// the console and every channel: the ladder is the team's routing for it.
func routeEscalation(ev Event, org *policy.Org, channels []string) []Delivery {
	if ev.Escalation == nil {
		return nil
	}
	groups := concernedGroups(ev, org)
	seen := map[[2]string]bool{}
	var out []Delivery
	for _, role := range ev.Escalation.Roles {
		for _, user := range resolveRole(ev, org, groups, ev.Escalation.Team, role) {
			for _, c := range append([]string{Console}, channels...) {
				if user == "" || seen[[2]string{user, c}] {
					continue
				}
				seen[[2]string{user, c}] = true
				out = append(out, Delivery{Recipient: user, Role: role, Channel: c})
			}
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		return strings.Compare(a.Recipient+"\x00"+a.Channel, b.Recipient+"\x00"+b.Channel)
	})
	return out
}
