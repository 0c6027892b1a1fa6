package policy

import (
	"bytes"
	"cmp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Change is one line of an apply plan.
type Change struct {
	Kind   string   // ChangeCreate, ChangeUpdate or ChangeDelete
	Object string   // ObjectRing, ObjectTeam, ObjectGroup or ObjectFreeze
	Name   string   // the object's name
	Fields []string // for updates: the YAML fields that differ, in file order
}

// Change kinds and objects.
const (
	ChangeCreate = "create"
	ChangeUpdate = "update"
	ChangeDelete = "delete"

	ObjectRing   = "ring"
	ObjectTeam   = "team"
	ObjectGroup  = "group"
	ObjectFreeze = "freeze"
)

// Diff returns what applying desired to current changes, in the order an
// apply performs it: creates and updates of rings (in ring order), teams,
// groups and freezes (each by name), then deletes in the reverse object order, so nothing is
// ever referenced before it exists or after it is gone. Order within lists
// that Marshal sorts (members, windows, holds, hosts) is not a change.
// Diff(x, x) is empty.
func Diff(current, desired *Org) []Change {
	cur, want := canonical(current), canonical(desired)
	var upserts, deletes []Change

	for i, r := range want.Rings {
		j := slices.Index(cur.Rings, r)
		switch {
		case j < 0:
			upserts = append(upserts, Change{Kind: ChangeCreate, Object: ObjectRing, Name: r})
		case ringPosition(cur.Rings, want.Rings, j) != ringPosition(want.Rings, cur.Rings, i):
			upserts = append(upserts, Change{Kind: ChangeUpdate, Object: ObjectRing, Name: r, Fields: []string{"position"}})
		}
	}
	for _, r := range cur.Rings {
		if !slices.Contains(want.Rings, r) {
			deletes = append(deletes, Change{Kind: ChangeDelete, Object: ObjectRing, Name: r})
		}
	}

	teams := diffNamed(ObjectTeam, cur.Teams, want.Teams, func(t Team) string { return t.Name }, teamFields)
	groups := diffNamed(ObjectGroup, cur.Groups, want.Groups, func(g Group) string { return g.Name }, groupFields)
	freezes := diffNamed(ObjectFreeze, cur.Freezes, want.Freezes, func(f Freeze) string { return f.Name }, freezeFields)

	out := upserts
	ringDeletes := deletes
	for _, d := range [][]Change{teams, groups, freezes} {
		out = append(out, upsertsOf(d)...)
	}
	for _, d := range [][]Change{freezes, groups, teams} {
		out = append(out, deletesOf(d)...)
	}
	return append(out, ringDeletes...)
}

// ringPosition is the index of rings[i] among the rings both lists share, so
// adding or removing a ring does not count as moving the others.
func ringPosition(rings, other []string, i int) int {
	n := 0
	for _, r := range rings[:i] {
		if slices.Contains(other, r) {
			n++
		}
	}
	return n
}

func byName(a, b Change) int { return cmp.Compare(a.Name, b.Name) }

func upsertsOf(cs []Change) []Change {
	return slices.DeleteFunc(slices.Clone(cs), func(c Change) bool { return c.Kind == ChangeDelete })
}

func deletesOf(cs []Change) []Change {
	return slices.DeleteFunc(slices.Clone(cs), func(c Change) bool { return c.Kind != ChangeDelete })
}

// diffNamed compares two name-sorted lists.
func diffNamed[T any](object string, cur, want []T, name func(T) string, fields func(a, b T) []string) []Change {
	var out []Change
	for _, w := range want {
		i := slices.IndexFunc(cur, func(c T) bool { return name(c) == name(w) })
		if i < 0 {
			out = append(out, Change{Kind: ChangeCreate, Object: object, Name: name(w)})
			continue
		}
		if f := fields(cur[i], w); len(f) > 0 {
			out = append(out, Change{Kind: ChangeUpdate, Object: object, Name: name(w), Fields: f})
		}
	}
	for _, c := range cur {
		if !slices.ContainsFunc(want, func(w T) bool { return name(w) == name(c) }) {
			out = append(out, Change{Kind: ChangeDelete, Object: object, Name: name(c)})
		}
	}
	slices.SortStableFunc(out, byName)
	return out
}

// fieldDiff collects the names of differing fields.
type fieldDiff []string

func (d *fieldDiff) check(name string, a, b any) {
	if !same(a, b) {
		*d = append(*d, name)
	}
}

func (d *fieldDiff) policy(prefix string, a, b Policy) {
	d.check(prefix+"sla_days", a.SLA, b.SLA)
	d.check(prefix+"kev", a.KEV, b.KEV)
	if (a.AutoApproveRules == nil) != (b.AutoApproveRules == nil) || !same(a.AutoApproveRules, b.AutoApproveRules) {
		*d = append(*d, prefix+"auto_approve")
	}
	d.check(prefix+"holds", a.Holds, b.Holds)
}

func teamFields(a, b Team) []string {
	var d fieldDiff
	d.check("members", a.Members, b.Members)
	d.policy("policy.", a.Policy, b.Policy)
	d.check("notifications", a.Notifications, b.Notifications)
	d.check("escalation", a.Escalation, b.Escalation)
	return d
}

func groupFields(a, b Group) []string {
	var d fieldDiff
	d.check("team", a.Team, b.Team)
	d.check("selector", a.Selector, b.Selector)
	d.check("stakeholder", a.Stakeholder, b.Stakeholder)
	d.check("sysadmin", a.Sysadmin, b.Sysadmin)
	d.check("criticality", a.Criticality, b.Criticality)
	d.check("exposure", a.Exposure, b.Exposure)
	d.check("ring", a.Ring, b.Ring)
	d.check("reboot", cmp.Or(a.Reboot, RebootIfRequired), cmp.Or(b.Reboot, RebootIfRequired))
	d.check("reboot_order", a.RebootOrder, b.RebootOrder)
	d.check("windows", a.Windows, b.Windows)
	d.check("enforcement", a.Enforcement, b.Enforcement)
	d.policy("policy.", a.Policy, b.Policy)
	return d
}

func freezeFields(a, b Freeze) []string {
	var d fieldDiff
	if !a.Start.Equal(b.Start) {
		d = append(d, "start")
	}
	if !a.End.Equal(b.End) {
		d = append(d, "end")
	}
	d.check("scope", a.Scope, b.Scope)
	d.check("reason", a.Reason, b.Reason)
	return d
}

// same compares two values by their YAML, so nil and empty lists or maps
// are equal.
func same(a, b any) bool {
	ya, errA := yaml.Marshal(a)
	yb, errB := yaml.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ya, yb)
}
