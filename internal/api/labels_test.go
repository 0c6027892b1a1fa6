package api

import (
	"maps"
	"testing"
)

func TestParseLabels(t *testing.T) {
	for _, c := range []struct {
		name  string
		pairs []string
		want  map[string]string
		err   string
	}{
		{"no pairs give no labels", nil, nil, ""},
		{"pairs become labels, the last of a key wins", []string{"env=prod", "role=web", "env=stage"}, map[string]string{"env": "stage", "role": "web"}, ""},
		{"a value may hold = and may be empty", []string{"expr=a=b", "empty="}, map[string]string{"expr": "a=b", "empty": ""}, ""},
		{"a pair without = is refused by name", []string{"env=prod", "prod"}, nil, `label "prod" must be key=value`},
		{"an empty key is refused", []string{"=prod"}, nil, `label "=prod" must be key=value`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseLabels(c.pairs)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, c.want) || (c.want == nil) != (got == nil) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
