package policy

import "testing"

func TestAStaticHostnameSelectsOnlyAHostThatHoldsItAlone(t *testing.T) {
	sel := Selector{Hosts: []string{"db-1", "h-42"}}
	for _, tc := range []struct {
		name string
		host HostInfo
		want bool
	}{
		{"the only host named db-1", HostInfo{ID: "h-1", Hostname: "db-1"}, true},
		{"a host named db-1 that another host also reports", HostInfo{ID: "h-1", Hostname: "db-1", HostnameShared: true}, false},
		{"a host named by ID whose hostname is shared", HostInfo{ID: "h-42", Hostname: "db-1", HostnameShared: true}, true},
		{"another hostname", HostInfo{ID: "h-2", Hostname: "db-2"}, false},
	} {
		if got := sel.Selects(tc.host); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
