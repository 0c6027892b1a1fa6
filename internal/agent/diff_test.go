package agent

import (
	"slices"
	"testing"

	"github.com/patchbay/patchbay/internal/inventory"
)

func TestDiffSendsOnlyWhatChanged(t *testing.T) {
	p := func(name, version string) inventory.Package {
		return inventory.Package{Name: name, Version: version, Arch: "amd64", Source: name}
	}
	prev := map[string]inventory.Package{}
	for _, x := range []inventory.Package{p("bash", "5.1"), p("curl", "7.0"), p("gone", "1")} {
		prev[x.Key()] = x
	}
	cur := []inventory.Package{p("bash", "5.1"), p("curl", "7.1"), p("new", "2")}
	up, rm := Diff(prev, cur)
	var names []string
	for _, u := range up {
		names = append(names, u.Name+"="+u.Version)
	}
	if !slices.Equal(names, []string{"curl=7.1", "new=2"}) {
		t.Errorf("upserts %v, want curl=7.1 and new=2", names)
	}
	if !slices.Equal(rm, []string{"gone:amd64"}) {
		t.Errorf("removes %v, want gone:amd64", rm)
	}
	if up, rm := Diff(prev, []inventory.Package{p("bash", "5.1"), p("curl", "7.0"), p("gone", "1")}); len(up)+len(rm) != 0 {
		t.Errorf("no change gave %d upserts and %d removes", len(up), len(rm))
	}
}
