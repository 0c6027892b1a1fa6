package policy

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Marshal writes o as canonical YAML: teams, groups, freezes, members,
// windows, holds and static hosts sorted, so that exporting the same
// organisation always gives the same bytes and Parse(Marshal(o)) equals o
// for an o in canonical order. Rings, auto-approval rules and reboot tiers
// keep their order, which means something.
func Marshal(o *Org) ([]byte, error) {
	b, err := yaml.Marshal(canonical(o))
	if err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	return b, nil
}

// canonical returns a sorted deep-enough copy of o; o is not changed.
func canonical(o *Org) *Org {
	c := &Org{Rings: slices.Clone(o.Rings)}
	for _, t := range o.Teams {
		t.Members = slices.Clone(t.Members)
		slices.SortStableFunc(t.Members, func(a, b Member) int { return cmp.Compare(a.User, b.User) })
		t.Policy = t.Policy.canonical()
		c.Teams = append(c.Teams, t)
	}
	for _, g := range o.Groups {
		g.Selector.Labels = maps.Clone(g.Selector.Labels)
		g.Selector.Hosts = slices.Clone(g.Selector.Hosts)
		slices.Sort(g.Selector.Hosts)
		g.RebootOrder = slices.Clone(g.RebootOrder)
		g.Windows = slices.Clone(g.Windows)
		slices.SortStableFunc(g.Windows, func(a, b WindowSpec) int { return cmp.Compare(a.Name, b.Name) })
		g.Policy = g.Policy.canonical()
		c.Groups = append(c.Groups, g)
	}
	c.Freezes = slices.Clone(o.Freezes)
	slices.SortStableFunc(c.Teams, func(a, b Team) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(c.Groups, func(a, b Group) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(c.Freezes, func(a, b Freeze) int { return cmp.Compare(a.Name, b.Name) })
	return c
}

func (p Policy) canonical() Policy {
	p.SLA = maps.Clone(p.SLA)
	p.AutoApproveRules = slices.Clip(p.AutoApproveRules)
	p.Holds = slices.Clone(p.Holds)
	slices.SortStableFunc(p.Holds, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), a.Until.Compare(b.Until), cmp.Compare(a.Reason, b.Reason))
	})
	return p
}

// IsZero reports whether p sets nothing; an auto_approve list set to []
// is something (it turns the team's rules off).
func (p Policy) IsZero() bool {
	return len(p.SLA) == 0 && p.KEV == "" && p.AutoApproveRules == nil && len(p.Holds) == 0
}

// MarshalYAML keeps the difference between no auto_approve list (inherit)
// and an empty one (none).
func (p Policy) MarshalYAML() (any, error) {
	type out struct {
		SLA         map[string]int     `yaml:"sla_days,omitempty,flow"`
		KEV         string             `yaml:"kev,omitempty"`
		AutoApprove *[]AutoApproveRule `yaml:"auto_approve,omitempty"`
		Holds       []Hold             `yaml:"holds,omitempty"`
	}
	v := out{SLA: p.SLA, KEV: p.KEV, Holds: p.Holds}
	if p.AutoApproveRules != nil {
		v.AutoApprove = &p.AutoApproveRules
	}
	return v, nil
}

// MarshalYAML writes a whole-day Until as a plain date.
func (h Hold) MarshalYAML() (any, error) {
	type out struct {
		Package string     `yaml:"package"`
		Reason  string     `yaml:"reason"`
		Until   *yaml.Node `yaml:"until,omitempty"`
	}
	v := out{Package: h.Package, Reason: h.Reason}
	if !h.Until.IsZero() {
		text := h.Until.Format(time.RFC3339Nano)
		if h.wholeDay() {
			text = h.Until.UTC().Format(time.DateOnly) // what Expires reads as a whole day
		}
		v.Until = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!timestamp", Value: text}
	}
	return v, nil
}

// MarshalYAML writes durations the way people write them ("4h", "30m").
func (w WindowSpec) MarshalYAML() (any, error) {
	type out struct {
		Name           string `yaml:"name"`
		RRule          string `yaml:"rrule"`
		Start          string `yaml:"start"`
		Duration       string `yaml:"duration"`
		TZ             string `yaml:"tz"`
		OffsetDays     int    `yaml:"offset_days,omitempty"`
		MaxRandomDelay string `yaml:"max_random_delay,omitempty"`
	}
	v := out{Name: w.Name, RRule: w.RRule, Start: w.Start, Duration: shortDuration(w.Duration), TZ: w.TZ, OffsetDays: w.OffsetDays}
	if w.MaxRandomDelay != 0 {
		v.MaxRandomDelay = shortDuration(w.MaxRandomDelay)
	}
	return v, nil
}

// shortDuration formats d as time.Duration.String does, without the zero
// units it appends ("4h0m0s" becomes "4h").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
