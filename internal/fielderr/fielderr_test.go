package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestAListSaysWhatIsInvalidAndWhere(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("an empty list is not an error")
	}
	l.What = "policy"
	l.Add("groups[1].ring", "%q is not a ring", "prod")
	if got, want := l.Err().Error(), `invalid policy: groups[1].ring: "prod" is not a ring`; got != want {
		t.Errorf("one problem: %q, want %q", got, want)
	}
	l.Add("teams[0].policy.kev", "never is not a KEV rule")
	want := "invalid policy: 2 problems:\n  groups[1].ring: \"prod\" is not a ring\n  teams[0].policy.kev: never is not a KEV rule"
	if got := l.Err().Error(); got != want {
		t.Errorf("two problems: %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(fmt.Errorf("apply: %w", l.Err()), &e) || e.Path != "groups[1].ring" {
		t.Errorf("errors.As through a wrap found %+v, want the first problem", e)
	}
	if ps := Problems(fmt.Errorf("apply: %w", l.Err())); len(ps) != 2 || ps[1].Path != "teams[0].policy.kev" {
		t.Errorf("Problems = %+v, want both", ps)
	}
}

func TestWithinPlacesPathsUnderAPrefix(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		err    error
		want   []Error
	}{
		{"a field", "groups[0].windows[1]", New("rrule", "required"), []Error{{"groups[0].windows[1].rrule", "required"}}},
		{"an index", "windows", Errorf("[2]", "start is not before end"), []Error{{"windows[2]", "start is not before end"}}},
		{"a plain error", "groups[3].windows[0]", errors.New("unknown time zone"), []Error{{"groups[3].windows[0]", "unknown time zone"}}},
		{"a list", "plan", &List{Problems: []*Error{New("rings", "empty"), New("batch_size", "negative")}},
			[]Error{{"plan.rings", "empty"}, {"plan.batch_size", "negative"}}},
		{"no prefix", "", New("tz", "required"), []Error{{"tz", "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Within(tt.prefix, tt.err)
			if len(got) != len(tt.want) {
				t.Fatalf("Within = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if *got[i] != tt.want[i] {
					t.Errorf("problem %d = %+v, want %+v", i, *got[i], tt.want[i])
				}
			}
		})
	}
}
