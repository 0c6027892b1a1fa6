package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
)

func testOrg() *policy.Org {
	return &policy.Org{
		Teams: []policy.Team{
			{Name: "web", Members: []policy.Member{{User: "bob", Role: "approver"}, {User: "sec", Role: "security"}, {User: "ann", Role: "admin"}}},
			{Name: "db", Members: []policy.Member{{User: "dave", Role: "approver"}},
				Notifications: []policy.Subscription{
					{Events: []string{"change.*"}, Roles: []string{"sysadmin"}, Channels: []string{"slack"}},
					{Events: []string{"finding.kev"}}, // default roles, every channel
				}},
		},
		Groups: []policy.Group{
			{Name: "web-prod", Team: "web", Stakeholder: "carol", Sysadmin: "alice"},
			{Name: "web-dev", Team: "web", Stakeholder: "carol", Sysadmin: "sam"},
			{Name: "db-prod", Team: "db", Stakeholder: "pat", Sysadmin: "sid"},
		},
	}
}

func render(ds []Delivery) string {
	var b []string
	for _, d := range ds {
		b = append(b, fmt.Sprintf("%s/%s/%s", d.Recipient, d.Role, d.Channel))
	}
	return strings.Join(b, " ")
}

func TestRouteResolvesRolesFromTheOrganisationAndTeamSubscriptions(t *testing.T) {
	org := testOrg()
	channels := []string{"hook", "slack"}
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"a web change waiting for approval goes to the team's approvers and the author, on every channel",
			Event{Kind: ChangePendingApproval, Groups: []string{"web-prod"}, Author: "erin"},
			"bob/approver/console bob/approver/hook bob/approver/slack erin/author/console erin/author/hook erin/author/slack"},
		{"a started change reaches the author, the sysadmin and the stakeholder of its group only",
			Event{Kind: ChangeStarted, Groups: []string{"web-prod"}, Author: "erin"},
			"alice/sysadmin/console alice/sysadmin/hook alice/sysadmin/slack carol/stakeholder/console carol/stakeholder/hook carol/stakeholder/slack erin/author/console erin/author/hook erin/author/slack"},
		{"the db team subscribes its sysadmins to change events on slack only",
			Event{Kind: ChangeStarted, Groups: []string{"db-prod"}, Author: "erin"},
			"sid/sysadmin/console sid/sysadmin/slack"},
		{"a db team event its subscriptions do not name reaches nobody",
			Event{Kind: HostStale, Groups: []string{"db-prod"}, Host: "h1"},
			""},
		{"a subscription without roles uses the event's defaults",
			Event{Kind: FindingKEV, Groups: []string{"db-prod"}},
			"sid/sysadmin/console sid/sysadmin/hook sid/sysadmin/slack"},
		{"a sign-off request goes to the stakeholder, once though two of its groups are in the change",
			Event{Kind: SignOffRequested, Groups: []string{"web-prod", "web-dev"}},
			"carol/stakeholder/console carol/stakeholder/hook carol/stakeholder/slack"},
		{"an emergency stop concerns every team",
			Event{Kind: EmergencyStop, Actor: "ann"},
			"alice/sysadmin/console alice/sysadmin/hook alice/sysadmin/slack ann/admin/console ann/admin/hook ann/admin/slack bob/approver/console bob/approver/hook bob/approver/slack sam/sysadmin/console sam/sysadmin/hook sam/sysadmin/slack"},
		{"an exception of a team goes to its requester and the team's groups' owners",
			Event{Kind: ExceptionExpired, Teams: []string{"web"}, Author: "frank"},
			"alice/sysadmin/console alice/sysadmin/hook alice/sysadmin/slack carol/stakeholder/console carol/stakeholder/hook carol/stakeholder/slack frank/author/console frank/author/hook frank/author/slack sam/sysadmin/console sam/sysadmin/hook sam/sysadmin/slack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(Route(tt.ev, org, channels)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRouteWithNoOrganisationStillTellsTheAuthor(t *testing.T) {
	got := render(Route(Event{Kind: ChangeApproved, Author: "erin"}, &policy.Org{}, []string{"hook"}))
	if got != "erin/author/console erin/author/hook" {
		t.Errorf("got %s", got)
	}
}

func TestCheckSubscriptionsNamesTheFieldAtFault(t *testing.T) {
	org := testOrg()
	if err := CheckSubscriptions(org, []string{"hook", "slack"}); err != nil {
		t.Fatalf("valid subscriptions refused: %v", err)
	}
	org.Teams[1].Notifications = append(org.Teams[1].Notifications,
		policy.Subscription{Events: []string{"change.exploded"}, Roles: []string{"boss"}, Channels: []string{"pager"}})
	err := CheckSubscriptions(org, []string{"hook", "slack"})
	for _, want := range []string{`teams[1].notifications[2].events[0]: "change.exploded" names no event`,
		`teams[1].notifications[2].roles[0]: "boss" is not a recipient role`,
		`teams[1].notifications[2].channels[0]: no channel "pager" is configured (channels: console, hook, slack)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %s", err, want)
		}
	}
}

func TestChangeKindMapsLifecycleStates(t *testing.T) {
	for state, want := range map[string]Kind{"running": ChangeStarted, "pending-approval": ChangePendingApproval,
		"completed-with-problems": ChangeCompletedWithProblems, "rolled-back": ChangeRolledBack, "draft": "", "rolling-back": ""} {
		if got, _ := ChangeKind(state); got != want {
			t.Errorf("ChangeKind(%q) = %q, want %q", state, got, want)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"schema":"patchbay.notification/v1"}`)
	at := time.Unix(1780000000, 0)
	h := Sign(secret, at, body)
	// Written out by hand: printf '1780000000.{"schema":"patchbay.notification/v1"}' | openssl dgst -sha256 -hmac whsec_test
	if h != "t=1780000000,v1=f30d3c39148cbf0627731c26cbc8d6ea0bad8ddf90a8d0bf5fb7b47ac1d3d789" {
		t.Errorf("header %s", h)
	}
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"a fresh signature passes", h, body, at.Add(30 * time.Second), true},
		{"a replay after the window fails", h, body, at.Add(6 * time.Minute), false},
		{"a changed body fails", h, []byte(`{"schema":"x"}`), at, false},
		{"a rotated secret passes when one v1 matches", "t=1780000000,v1=00," + strings.Split(h, ",")[1], body, at, true},
		{"a header without a timestamp fails", strings.Split(h, ",")[1], body, at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(secret, tt.header, tt.body, tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Errorf("Verify: %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

func TestSlackBodyIsBlockKitWithALinkToTheConsole(t *testing.T) {
	ev := Event{ID: "c1:3", Kind: ChangeHalted, At: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC), Subject: "Change \"openssl\" halted",
		Text: "2 hosts failed <b>", Link: "/changes/c1"}
	b, err := SlackBody(ev, Delivery{Recipient: "alice", Role: "sysadmin", Channel: "slack"}, "https://pb.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"Change \"openssl\" halted"}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"2 hosts failed \u0026lt;b\u0026gt;\n_For alice (sysadmin)_"}},` +
		`{"type":"context","elements":[{"type":"mrkdwn","text":"` + "`change.halted`" + ` · 2026-12-06T07:00:00Z"}]},` +
		`{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Open in Patchbay"},"url":"https://pb.example.com/changes/c1"}]}],` +
		`"text":"Change \"openssl\" halted"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
}

func TestRetrySpacingDoublesUpToTheCapThenDies(t *testing.T) {
	r := Retry{Base: 10 * time.Second, Max: time.Minute, Attempts: 5}
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
		dead    bool
	}{
		{1, 0, 5 * time.Second, false},
		{1, 0.999999, 10 * time.Second, false},
		{2, 0.5, 15 * time.Second, false},
		{3, 0, 20 * time.Second, false},
		{4, 0, 30 * time.Second, false}, // 80 s capped at 60
		{5, 0, 0, true},
	}
	for _, tt := range tests {
		got, dead := r.Next(tt.attempt, tt.jitter)
		if dead != tt.dead || (got-tt.want).Abs() > time.Millisecond {
			t.Errorf("Next(%d, %v) = %s, %t; want %s, %t", tt.attempt, tt.jitter, got, dead, tt.want, tt.dead)
		}
	}
}

func TestKeyIsStablePerRecipientAndChannel(t *testing.T) {
	ev := Event{ID: "c1:3", Kind: ChangeStarted}
	a := Delivery{Recipient: "alice", Channel: "hook"}.Key(ev)
	if a != (Delivery{Recipient: "alice", Channel: "hook", Role: "author"}).Key(ev) {
		t.Error("the role changed the key")
	}
	if a == (Delivery{Recipient: "alice", Channel: "slack"}).Key(ev) || a == (Delivery{Recipient: "bob", Channel: "hook"}).Key(ev) {
		t.Error("two messages share a key")
	}
	if len(a) != 32 {
		t.Errorf("key %q", a)
	}
}
