package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
	"github.com/patchbay/patchbay/internal/policy"
)

func ladderOrg() *policy.Org {
	org := testOrg()
	org.Teams[0].Escalation = []policy.EscalationStep{
		{After: "0d", Notify: []string{"sysadmin"}},
		{After: "3d", Notify: []string{"approver", "stakeholder"}},
		{After: "7d", Notify: []string{"security"}},
	}
	return org
}

func TestEscalationTellsEachReachedStepItsOwnPeopleOnce(t *testing.T) {
	org := ladderOrg()
	due := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := Event{ID: "overdue:h1:f1", Subject: "3 findings past due on web-1", Text: "CVE-2026-1 (due 2026-12-01)",
		Link: "/hosts/h1", Host: "h1", Groups: []string{"web-prod", "db-prod"}}
	for _, tc := range []struct {
		name string
		now  time.Time
		want []string // per step event: ID, then its deliveries over the console and email
	}{
		{"an hour before the due date, nobody", due.Add(-time.Hour), nil},
		{"at the due date, the group's sysadmin", due, []string{
			"overdue:h1:f1:escalation:web:1 alice/sysadmin/console alice/sysadmin/email"}},
		{"after three days, the approvers and the stakeholder too", due.Add(3*24*time.Hour + time.Minute), []string{
			"overdue:h1:f1:escalation:web:1 alice/sysadmin/console alice/sysadmin/email",
			"overdue:h1:f1:escalation:web:2 bob/approver/console bob/approver/email carol/stakeholder/console carol/stakeholder/email"}},
		{"after a week, security too", due.Add(8 * 24 * time.Hour), []string{
			"overdue:h1:f1:escalation:web:1 alice/sysadmin/console alice/sysadmin/email",
			"overdue:h1:f1:escalation:web:2 bob/approver/console bob/approver/email carol/stakeholder/console carol/stakeholder/email",
			"overdue:h1:f1:escalation:web:3 sec/security/console sec/security/email"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ev := range Escalate(base, due, tc.now, org) {
				if ev.Kind != Escalation || strings.Join(ev.Groups, ",") != "web-prod" || ev.Host != "h1" {
					t.Errorf("event %s: kind %s, groups %v, host %q; want escalation about h1 in web-prod only (db has no ladder)", ev.ID, ev.Kind, ev.Groups, ev.Host)
				}
				got = append(got, ev.ID+" "+render(Route(ev, org, []string{"email"})))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestEscalationEventsSayWhichStepAndWhatComesNext(t *testing.T) {
	due := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	evs := Escalate(Event{ID: "x", Subject: "Change \"openssl\" is halted", Text: "Halted by the failure budget.", Groups: []string{"web-dev"}},
		due, due.Add(4*24*time.Hour), ladderOrg())
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	if evs[1].Subject != `Escalation 2/3: Change "openssl" is halted` {
		t.Errorf("subject %q", evs[1].Subject)
	}
	want := "Halted by the failure budget.\nThis has lasted since 2026-12-01 00:00 UTC (step 2 of team web's escalation ladder, after 3d: approver, stakeholder). Next: security after 7d."
	if evs[1].Text != want {
		t.Errorf("text:\n%s\nwant:\n%s", evs[1].Text, want)
	}
	if s := evs[1].Escalation; s == nil || s.Team != "web" || s.Step != 2 || s.Of != 3 || s.After != "3d" {
		t.Errorf("step %+v", s)
	}
}

func TestCheckEscalationNamesTheFieldAtFault(t *testing.T) {
	org := testOrg()
	org.Teams[1].Escalation = []policy.EscalationStep{
		{After: "2d", Notify: []string{"sysadmin"}},
		{After: "1d", Notify: []string{"approver"}},
		{After: "soon", Notify: []string{"manager"}},
		{Notify: nil},
		{After: "-1h", Notify: []string{"security"}},
	}
	var got []string
	for _, p := range fielderr.Problems(CheckEscalation(org)) {
		got = append(got, p.Path)
	}
	want := "teams[1].escalation[1].after teams[1].escalation[2].after teams[1].escalation[2].notify[0] teams[1].escalation[3].after teams[1].escalation[3].notify teams[1].escalation[4].after"
	if strings.Join(got, " ") != want {
		t.Errorf("problems at %s\nwant %s", strings.Join(got, " "), want)
	}
	if err := CheckEscalation(ladderOrg()); err != nil {
		t.Errorf("a valid ladder: %v", err)
	}
	for in, want := range map[string]time.Duration{"0d": 0, "3d": 72 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if d, err := ParseAfter(in); err != nil || d != want {
			t.Errorf("ParseAfter(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
}

func TestWhoToCallResolvesTheLadderForAGroup(t *testing.T) {
	got := WhoToCall(ladderOrg(), "web-dev")
	var lines []string
	for _, l := range got {
		lines = append(lines, l.After+": "+strings.Join(l.People, ", "))
	}
	want := "0d: sam (sysadmin)|3d: bob (approver), carol (stakeholder)|7d: sec (security)"
	if strings.Join(lines, "|") != want {
		t.Errorf("who to call: %s\nwant %s", strings.Join(lines, "|"), want)
	}
	if got := WhoToCall(ladderOrg(), "db-prod"); got != nil {
		t.Errorf("a team without a ladder: %+v", got)
	}
}
