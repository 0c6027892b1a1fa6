package main

import (
	"strings"
	"testing"
)

// TestUnknownSubcommandsFail: a mistyped verb under a command group must
// fail (a script would otherwise read cobra's help and exit 0 as success);
// the group alone still shows its help.
func TestUnknownSubcommandsFail(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"hosts", "lst"}, `unknown command "lst" for "patchbay hosts"`},
		{[]string{"changes", "frobnicate", "x"}, `unknown command "frobnicate" for "patchbay changes"`},
		{[]string{"feeds", "imprt"}, `unknown command "imprt" for "patchbay feeds"`},
		{[]string{"nosuch"}, `unknown command "nosuch" for "patchbay"`},
	} {
		_, errOut, err := run(t, c.args...)
		if err == nil || !strings.Contains(errOut, c.wantErr) {
			t.Errorf("patchbay %s: err %v, stderr %q; want a failure saying %s", strings.Join(c.args, " "), err, errOut, c.wantErr)
		}
	}
	out, errOut, err := run(t, "hosts")
	if err != nil || !strings.Contains(out, "Usage:") || !strings.Contains(out, "patchbay hosts [command]") {
		t.Errorf("patchbay hosts: err %v, stdout %q, stderr %q; want its help", err, out, errOut)
	}
}
