package policy

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMarshalRoundTrips(t *testing.T) {
	o := loadExample(t)
	out, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(example)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("Parse(Marshal(o)) differs from o\nmarshalled:\n%s\ngot:  %+v\nwant: %+v", out, back, o)
	}
	again, err := Marshal(back)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("Marshal is not stable:\n%s\nthen\n%s", out, again)
	}
	for _, want := range []string{"until: 2026-12-31\n", "duration: 4h\n", "max_random_delay: 30m\n", "auto_approve: []\n", "rings: [test, pilot, production]\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("Marshal output lacks %q:\n%s", want, out)
		}
	}
	if err := back.Validate(exampleHooks()); err != nil {
		t.Errorf("the round-tripped example is invalid: %v", err)
	}
}

func TestMarshalSortsWithoutChangingItsInput(t *testing.T) {
	o := loadExample(t)
	slices.Reverse(o.Teams)
	slices.Reverse(o.Groups)
	slices.Reverse(o.Teams[0].Members)
	before := fmt.Sprintf("%+v", o)
	out, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", o) != before {
		t.Error("Marshal changed its argument")
	}
	canonical, _ := Marshal(loadExample(t))
	if !bytes.Equal(out, canonical) {
		t.Errorf("Marshal of a reordered org differs from the canonical one:\n%s", out)
	}
}

func TestDiff(t *testing.T) {
	current := loadExample(t)
	desired := loadExample(t)

	desired.Rings = []string{"test", "canary", "pilot", "production"} // one ring added, none moved
	desired.Teams = desired.Teams[:1]                                 // platform deleted
	desired.Teams[0].Members = append(desired.Teams[0].Members, Member{User: "erin", Role: RoleSecurity})
	desired.Groups[1].Policy.SLA = map[string]int{"critical": 5}
	desired.Groups[1].Windows[0].Duration = 3 * time.Hour
	desired.Groups = slices.Delete(desired.Groups, 3, 4) // public-web deleted
	desired.Groups = append(desired.Groups, Group{Name: "batch", Team: "payments"})
	desired.Freezes[0].End = desired.Freezes[0].End.Add(24 * time.Hour)
	desired.Freezes = append(desired.Freezes, Freeze{Name: "audit-week"})

	got := Diff(current, desired)
	want := []Change{
		{Kind: "create", Object: "ring", Name: "canary"},
		{Kind: "update", Object: "team", Name: "payments", Fields: []string{"members"}},
		{Kind: "create", Object: "group", Name: "batch"},
		{Kind: "update", Object: "group", Name: "payments-prod", Fields: []string{"windows", "policy.sla_days"}},
		{Kind: "create", Object: "freeze", Name: "audit-week"},
		{Kind: "update", Object: "freeze", Name: "black-friday", Fields: []string{"end"}},
		{Kind: "delete", Object: "group", Name: "public-web"},
		{Kind: "delete", Object: "team", Name: "platform"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%s\nwant\n%s", formatChanges(got), formatChanges(want))
	}

	if d := Diff(desired, desired); len(d) != 0 {
		t.Errorf("Diff(desired, desired) = %s; want nothing", formatChanges(d))
	}
	// Applying desired, exporting and applying again changes nothing.
	exported, err := Marshal(desired)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := Parse(exported)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(applied, desired); len(d) != 0 {
		t.Errorf("second apply: Diff = %s; want nothing", formatChanges(d))
	}
}

func TestDiffIgnoresOrderThatMeansNothing(t *testing.T) {
	current := loadExample(t)
	desired := loadExample(t)
	slices.Reverse(desired.Groups)
	slices.Reverse(desired.Teams[0].Members)
	slices.Reverse(desired.Groups[3].Selector.Hosts) // canary, after the reverse
	if d := Diff(current, desired); len(d) != 0 {
		t.Errorf("Diff = %s; want nothing", formatChanges(d))
	}
	// But the order of rings and of auto-approve rules does mean something.
	desired.Rings = []string{"pilot", "test", "production"}
	slices.Reverse(desired.Teams[1].Policy.AutoApproveRules)
	got := formatChanges(Diff(current, desired))
	want := "update ring pilot [position]\nupdate ring test [position]\nupdate team platform [policy.auto_approve]\n"
	if got != want {
		t.Errorf("Diff =\n%s\nwant\n%s", got, want)
	}
	// Creating everything from nothing, and deleting everything.
	all := Diff(&Org{}, current)
	if len(all) != 3+2+4+2 || all[0].Name != "test" || all[len(all)-1].Object != "freeze" {
		t.Errorf("Diff(empty, example) =\n%s", formatChanges(all))
	}
	gone := Diff(current, &Org{})
	if len(gone) != 11 || gone[0].Object != "freeze" || gone[len(gone)-1].Object != "ring" {
		t.Errorf("Diff(example, empty) =\n%s", formatChanges(gone))
	}
}

func formatChanges(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s %s", c.Kind, c.Object, c.Name)
		if len(c.Fields) > 0 {
			fmt.Fprintf(&b, " %v", c.Fields)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestMarshalEmptyOrg(t *testing.T) {
	out, err := Marshal(&Org{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := Parse(out)
	if err != nil || !reflect.DeepEqual(o, &Org{}) {
		t.Errorf("Parse(Marshal(empty)) = %+v, %v; output %q", o, err, out)
	}
}
