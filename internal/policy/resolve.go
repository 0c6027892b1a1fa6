package policy

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// HostInfo is what group selection looks at.
type HostInfo struct {
	ID       string
	Hostname string
	// HostnameShared: another host reports the same hostname, so the
	// hostname does not name this host.
	HostnameShared bool
	Labels         map[string]string
}

// Selects reports whether the selector picks host: every label equal, or the
// host's ID or hostname in the static list. A hostname another host also
// reports names neither: a static list must name hosts unambiguously, or an
// impostor reporting a listed hostname would join the group. An empty
// selector picks nothing.
func (s Selector) Selects(host HostInfo) bool {
	if len(s.Hosts) > 0 {
		return slices.Contains(s.Hosts, host.ID) || (host.Hostname != "" && !host.HostnameShared && slices.Contains(s.Hosts, host.Hostname))
	}
	return len(s.Labels) > 0 && labelsMatch(s.Labels, host.Labels)
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// GroupsOf returns the groups that select host, in the order of o.Groups.
func (o *Org) GroupsOf(host HostInfo) []*Group {
	var out []*Group
	for i := range o.Groups {
		if o.Groups[i].Selector.Selects(host) {
			out = append(out, &o.Groups[i])
		}
	}
	return out
}

// TierOf returns the reboot tier of host in the group and its position in
// the reboot order; a host no tier selects reboots last, as ("", len).
func (g *Group) TierOf(host HostInfo) (tier string, position int) {
	for i, t := range g.RebootOrder {
		if len(t.Labels) > 0 && labelsMatch(t.Labels, host.Labels) {
			return t.Tier, i
		}
	}
	return "", len(g.RebootOrder)
}

// MatchesNothing returns, sorted, the names of the groups whose selector
// picks none of hosts: a warning for the caller to show.
func (o *Org) MatchesNothing(hosts []HostInfo) []string {
	var out []string
	for _, g := range o.Groups {
		if !slices.ContainsFunc(hosts, g.Selector.Selects) {
			out = append(out, g.Name)
		}
	}
	slices.Sort(out)
	return out
}

// AmbiguousHosts returns, one line each, the static selector entries that
// name a hostname more than one of hosts report (and so select none of
// them): a warning for the caller to show.
func (o *Org) AmbiguousHosts(hosts []HostInfo) []string {
	ids := map[string][]string{}
	for _, h := range hosts {
		if h.Hostname != "" {
			ids[h.Hostname] = append(ids[h.Hostname], h.ID)
		}
	}
	var out []string
	for _, g := range o.Groups {
		for _, name := range g.Selector.Hosts {
			if held := ids[name]; len(held) > 1 && !slices.Contains(held, name) {
				out = append(out, fmt.Sprintf("group %s: %d hosts report the hostname %s (%s), so it selects none of them; name the host by its ID",
					g.Name, len(held), name, strings.Join(held, ", ")))
			}
		}
	}
	return out
}

// Effective is everything the organisation says about one host, with
// conflicts between its groups resolved (see docs/policy.md).
type Effective struct {
	// Team owns the host: the team of its most critical group (ties go to
	// the group name first in order). Empty when the host is in no group.
	Team string
	// Teams are all teams owning one of the host's groups, sorted.
	Teams []string
	// Groups are the names of the host's groups, sorted.
	Groups []string
	// Criticality is the highest of the groups' (0: in no group, unknown).
	Criticality int
	// Exposure is internet when any group says so ("" in no group).
	Exposure string
	// Ring is the latest ring of the groups, so the host is never patched
	// earlier than any of its groups allows ("" in no group: no rollout
	// picks it up by ring).
	Ring string
	// Reboot is the most cautious: never, then if-required, then
	// restart-services, then always. A host in no group is never rebooted.
	Reboot string
	// Policy is fully resolved: defaults, then the team's, then the group's
	// override, then the strictest across groups.
	Policy Policy
	// Windows are all the groups' windows, without exact duplicates.
	Windows []WindowSpec
	// Stakeholders and Sysadmins of all the groups, sorted, without duplicates.
	Stakeholders []string
	Sysadmins    []string
}

// Effective resolves what applies to host.
func (o *Org) Effective(host HostInfo) Effective {
	groups := o.GroupsOf(host)
	if len(groups) == 0 {
		return Effective{Reboot: RebootNever, Policy: DefaultPolicy()}
	}
	slices.SortFunc(groups, func(a, b *Group) int { return cmp.Compare(a.Name, b.Name) })

	e := Effective{Exposure: ExposureInternal}
	ringAt := -1
	rebootRank := -1
	var owner *Group
	var policies []Policy
	for _, g := range groups {
		e.Groups = append(e.Groups, g.Name)
		e.Teams = append(e.Teams, g.Team)
		e.Stakeholders = append(e.Stakeholders, g.Stakeholder)
		e.Sysadmins = append(e.Sysadmins, g.Sysadmin)
		if owner == nil || g.Criticality > owner.Criticality {
			owner = g
		}
		e.Criticality = max(e.Criticality, g.Criticality)
		if g.Exposure == ExposureInternet {
			e.Exposure = ExposureInternet
		}
		if at := slices.Index(o.Rings, g.Ring); at > ringAt {
			ringAt, e.Ring = at, g.Ring
		}
		if r := rebootCaution(g.Reboot); r > rebootRank {
			rebootRank, e.Reboot = r, cmp.Or(g.Reboot, RebootIfRequired)
		}
		for _, w := range g.Windows {
			if !slices.Contains(e.Windows, w) {
				e.Windows = append(e.Windows, w)
			}
		}
		policies = append(policies, o.groupPolicy(g))
	}
	e.Team = owner.Team
	e.Teams = sortedUnique(e.Teams)
	e.Stakeholders = sortedUnique(e.Stakeholders)
	e.Sysadmins = sortedUnique(e.Sysadmins)
	e.Policy = strictest(policies)
	return e
}

// rebootCaution ranks reboot policies: never is the most cautious;
// restart-services disturbs more than if-required (it restarts services
// that if-required leaves alone) and less than always.
func rebootCaution(r string) int {
	switch r {
	case RebootNever:
		return 3
	case RebootRestartServices:
		return 1
	case RebootAlways:
		return 0
	}
	return 2 // if-required, the default
}

// groupPolicy is the resolved policy of one group: defaults, team, group.
func (o *Org) groupPolicy(g *Group) Policy {
	var team Policy
	if i := slices.IndexFunc(o.Teams, func(t Team) bool { return t.Name == g.Team }); i >= 0 {
		team = o.Teams[i].Policy
	}
	return team.resolved().override(g.Policy).resolved()
}

// GroupPolicy returns the resolved policy of the named group, and false when
// there is no such group.
func (o *Org) GroupPolicy(name string) (Policy, bool) {
	i := slices.IndexFunc(o.Groups, func(g Group) bool { return g.Name == name })
	if i < 0 {
		return Policy{}, false
	}
	return o.groupPolicy(&o.Groups[i]), true
}

func sortedUnique(s []string) []string {
	s = slices.DeleteFunc(s, func(x string) bool { return x == "" })
	slices.Sort(s)
	return slices.Compact(s)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func pathMatchCheck(pattern string) (bool, error) {
	return path.Match(pattern, pattern)
}
