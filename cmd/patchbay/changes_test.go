package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/spf13/cobra"
)

// TestChangesPlanSaysPerHostWhetherItRebootsRestartsOrNothing prints a
// plan as the API returns it for a change with reboot restart-services.
func TestChangesPlanSaysPerHostWhetherItRebootsRestartsOrNothing(t *testing.T) {
	var v changeView
	if err := json.Unmarshal([]byte(`{"id":"c1","title":"openssl","state":"draft","plan":{"rings":["production"],"hosts":[
		{"host_id":"db-replica","group":"db","ring":0,"tier":0,"targets":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"needs_reboot":true},
		{"host_id":"db-primary","group":"db","ring":0,"tier":1,"targets":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"restart_only":["postgresql@15-main.service","ssh.service"]},
		{"host_id":"web-1","group":"db","ring":0,"tier":2,"targets":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}]}}`), &v); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	if err := printChange(cmd, &globals{output: "table"}, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^RING\s+GROUP\s+HOST\s+TIER\s+TARGETS\s+AFTER PATCH\s+STATUS`,
		`(?m)^production\s+db\s+db-replica\s+0\s+openssl=3.0.2-0ubuntu1.9\s+reboot\s*$`,
		`(?m)^production\s+db\s+db-primary\s+1\s+openssl=3.0.2-0ubuntu1.9\s+restart postgresql@15-main.service ssh.service\s*$`,
		`(?m)^production\s+db\s+web-1\s+2\s+openssl=3.0.2-0ubuntu1.9\s+nothing\s*$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("plan output lacks %s:\n%s", want, out.String())
		}
	}
}
