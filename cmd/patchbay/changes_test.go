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
// Without a review naming the tiers, tiers print counted from 1.
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
		`(?m)^RING\s+GROUP\s+HOST\s+TIER\s+PLAN\s+TARGETS\s+AFTER PATCH\s+STATUS`,
		`(?m)^production\s+db\s+db-replica\s+tier 1\s+planned\s+openssl=3.0.2-0ubuntu1.9\s+reboot\s*$`,
		`(?m)^production\s+db\s+db-primary\s+tier 2\s+planned\s+openssl=3.0.2-0ubuntu1.9\s+restart postgresql@15-main.service ssh.service\s*$`,
		`(?m)^production\s+db\s+web-1\s+tier 3\s+planned\s+openssl=3.0.2-0ubuntu1.9\s+nothing\s*$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("plan output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestChangesPlanShowsEveryHostByNameAndWhyItIsNotPlanned prints a plan
// with its review as the API returns it: hosts by hostname, rings and
// tiers by name, and for each host left out its status and reason.
func TestChangesPlanShowsEveryHostByNameAndWhyItIsNotPlanned(t *testing.T) {
	var v changeView
	if err := json.Unmarshal([]byte(`{"id":"c2","title":"glibc","state":"draft","plan":{"rings":["test","production"],"hosts":[
		{"host_id":"9b1c","group":"db","ring":1,"tier":0,"targets":[{"name":"glibc","arch":"x86_64","version":"2.28-225.el8_8.6"}],"needs_reboot":true}]},
		"review":[
		{"host_id":"9b1c","hostname":"db-replica-1","group":"db","ring":"production","tier":"replicas","status":"planned",
		 "reason":"bash not-offered: the repositories do not offer bash 4.4.20-5.el8 (they offer none); force-not-offered plans it anyway",
		 "targets":[{"name":"glibc","arch":"x86_64","installed":"2.28-211.el8","version":"2.28-225.el8_8.6","status":"planned"},
		            {"name":"bash","arch":"x86_64","installed":"4.4.20-4.el8_6","version":"4.4.20-5.el8","status":"not-offered"}]},
		{"host_id":"77aa","hostname":"amzn-web-2","group":"db","ring":"production","status":"excluded",
		 "reason":"glibc 2.28-225.el8_8.6 is built for el 8 (rpm), not this host's amzn 2 (rpm)",
		 "targets":[{"name":"glibc","arch":"x86_64","installed":"2.26-32.amzn2.0.1","version":"2.28-225.el8_8.6","status":"excluded"}]},
		{"host_id":"51f0","hostname":"db-primary","group":"db","ring":"production","tier":"primary","status":"downgrade-refused",
		 "reason":"glibc 2.28-225.el8_8.6 is lower than the installed 2.28-236.el8_9.12; a downgrade needs allow-downgrade",
		 "targets":[{"name":"glibc","arch":"x86_64","installed":"2.28-236.el8_9.12","version":"2.28-225.el8_8.6","status":"downgrade-refused"}]}]}`), &v); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	if err := printChange(cmd, &globals{output: "table"}, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^production\s+db\s+db-replica-1\s+replicas\s+planned\s+glibc=2.28-225.el8_8.6 bash=4.4.20-5.el8 \(not-offered\)\s+reboot\s*$`,
		`(?m)^production\s+db\s+amzn-web-2\s+-\s+excluded\s+glibc=2.28-225.el8_8.6\s+-\s*$`,
		`(?m)^production\s+db\s+db-primary\s+primary\s+downgrade-refused\s+glibc=2.28-225.el8_8.6\s+-\s*$`,
		`(?m)^WHY db-replica-1: bash not-offered: the repositories do not offer bash 4.4.20-5.el8 \(they offer none\); force-not-offered plans it anyway$`,
		`(?m)^WHY amzn-web-2: glibc 2.28-225.el8_8.6 is built for el 8 \(rpm\), not this host's amzn 2 \(rpm\)$`,
		`(?m)^WHY db-primary: glibc 2.28-225.el8_8.6 is lower than the installed 2.28-236.el8_9.12; a downgrade needs allow-downgrade$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("plan output lacks %s:\n%s", want, out.String())
		}
	}
	if regexp.MustCompile(`9b1c|77aa|51f0`).MatchString(out.String()) {
		t.Errorf("plan output shows host IDs:\n%s", out.String())
	}
}
