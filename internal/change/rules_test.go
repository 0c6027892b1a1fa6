package change

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
)

var now = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

func decide(t *testing.T, c Change, req Request, who string) Decision {
	t.Helper()
	d, err := Decide(c, req, fixtureActors[who], now)
	if err != nil {
		t.Fatalf("%s %s by %s: %v", c.State, req.Action, who, err)
	}
	return d
}

func TestAnEditVoidsTheApprovalAndRecordsTheEditor(t *testing.T) {
	for _, s := range []State{Approved, Scheduled} {
		c := fixture(s)
		c.ApprovedBy = "alice"
		d := decide(t, c, Request{Action: Edit}, "oscar")
		if d.To != PendingApproval || !d.VoidsApproval || !d.AddEditor {
			t.Errorf("edit of %s: %+v, want pending-approval, approval void, editor added", s, d)
		}
		if d.Event != "edited by oscar; the approval by alice is void" {
			t.Errorf("edit event %q", d.Event)
		}
	}
}

func TestApprovalRecordsThePlanDigestAndStartChecksIt(t *testing.T) {
	c := fixture(PendingApproval)
	c.Digest, c.ApprovedDigest = "aaaaaaaaaaaaaaaaaaaa", ""
	d := decide(t, c, Request{Action: Approve}, "alice")
	if d.To != Approved || d.ApprovedBy != "alice" || d.ApprovedDigest != "aaaaaaaaaaaaaaaaaaaa" {
		t.Fatalf("approve: %+v", d)
	}
	if d.Event != "approved by alice (plan digest aaaaaaaaaaaa)" {
		t.Errorf("approve event %q", d.Event)
	}
	c.State, c.ApprovedDigest, c.Digest = Approved, d.ApprovedDigest, "bbbbbbbbbbbbbbbbbbbb"
	_, err := Decide(c, Request{Action: Start}, fixtureActors["olga"], now)
	if !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "is not the approved one (aaaaaaaaaaaa)") {
		t.Errorf("start with another plan: %v, want a precondition error naming the approved digest", err)
	}
	c.Scheduled = true
	c.State = PendingApproval
	if d := decide(t, c, Request{Action: Approve}, "alice"); d.To != Scheduled {
		t.Errorf("approve of a change with a start: → %s, want scheduled", d.To)
	}
}

func TestAGlobalAdminApprovingOutsideHisTeamsIsRecorded(t *testing.T) {
	d := decide(t, fixture(PendingApproval), Request{Action: Approve}, "root")
	if d.Event != "approved by root (plan digest d1) as global admin outside team A, B" {
		t.Errorf("event %q", d.Event)
	}
}

func TestAuthorsEditorsAndOtherTeamsApproversAreRefusedWithAReason(t *testing.T) {
	c := fixture(PendingApproval)
	c.Author = "alice"
	for _, tc := range []struct {
		c    Change
		who  string
		want string
	}{
		{c, "alice", "alice wrote change c1; an approver who neither wrote nor edited it must approve it"},
		{fixture(PendingApproval), "eve", "eve edited change c1; an approver who neither wrote nor edited it must approve it"},
		{fixture(PendingApproval), "andy", "andy is not an approver or security member of team B, which owns a target group of change c1; ask one of its approvers"},
	} {
		_, err := Decide(tc.c, Request{Action: Approve}, fixtureActors[tc.who], now)
		if !errors.Is(err, ErrForbidden) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("approve by %s: %v, want %q", tc.who, err, tc.want)
		}
	}
}

func TestAutoApprovalRecordsTheRuleAndTheDigest(t *testing.T) {
	c := fixture(Draft)
	c.AutoApproval, c.ApprovedDigest = "critical-kev", ""
	d := decide(t, c, Request{Action: Submit}, "olga")
	if d.To != Approved || d.ApprovedBy != "auto-approval rule critical-kev" || d.ApprovedDigest != "d1" {
		t.Errorf("auto-approved submit: %+v", d)
	}
	if d.Event != "submitted by olga and approved automatically by policy rule critical-kev (plan digest d1)" {
		t.Errorf("event %q", d.Event)
	}
}

func TestSignOffsCountEveryGroupAndAProblemIsNeverCountedAsOK(t *testing.T) {
	for _, tc := range []struct {
		name     string
		signed   map[string]bool
		action   Action
		group    string
		who      string
		want     State
		wantText string
	}{
		{"first of two groups ok", map[string]bool{}, SignOffOK, "g1", "sam", AwaitingSignOff, "sam signed off ok for g1"},
		{"first of two groups with a problem", map[string]bool{}, SignOffProblem, "g1", "sam", AwaitingSignOff, "sam signed off with a problem for g1 (broken)"},
		{"last group ok after a problem", map[string]bool{"g1": false}, SignOffOK, "g2", "tom", CompletedWithProblems, "tom signed off ok for g2; completed with problems"},
		{"last group ok after ok", map[string]bool{"g1": true}, SignOffOK, "g2", "tom", Completed, "tom signed off ok for g2; every group signed off"},
		{"last group with a problem", map[string]bool{"g1": true}, SignOffProblem, "g2", "tom", CompletedWithProblems, "tom signed off with a problem for g2 (broken); completed with problems"},
		{"a group overriding its own problem with ok", map[string]bool{"g1": false, "g2": true}, SignOffOK, "g1", "sam", CompletedWithProblems, "sam signed off ok for g1; completed with problems"},
	} {
		c := fixture(AwaitingSignOff)
		c.SignOffs = tc.signed
		d := decide(t, c, Request{Action: tc.action, Group: tc.group, Reason: "broken"}, tc.who)
		if d.To != tc.want || d.Event != tc.wantText {
			t.Errorf("%s: → %s %q, want → %s %q", tc.name, d.To, d.Event, tc.want, tc.wantText)
		}
	}
	_, err := Decide(fixture(AwaitingSignOff), Request{Action: SignOffOK, Group: "g9"}, fixtureActors["root"], now)
	if !errors.Is(err, ErrPrecondition) || err.Error() != `group "g9" is not a group of change c1` {
		t.Errorf("sign-off for a group not in the change: %v", err)
	}
}

func TestTheEmergencyStopBlocksStartAndResume(t *testing.T) {
	for _, s := range []State{Approved, Scheduled, Halted} {
		c := fixture(s)
		c.EmergencyStop = true
		a := Start
		if s == Halted {
			a = Resume
		}
		_, err := Decide(c, Request{Action: a}, fixtureActors["olga"], now)
		if !errors.Is(err, ErrPrecondition) || !strings.HasPrefix(err.Error(), "the emergency stop is in force; a second user must release it first") {
			t.Errorf("%s of a %s change during an emergency stop: %v", a, s, err)
		}
	}
}

func TestWrongStateErrorsSayWhichStatesAllowTheAction(t *testing.T) {
	_, err := Decide(fixture(Running), Request{Action: Cancel}, fixtureActors["olga"], now)
	want := "change c1 is running; cancel needs it draft or pending-approval or approved or scheduled"
	if err == nil || err.Error() != want {
		t.Errorf("cancel of a running change: %v, want %q", err, want)
	}
	_, err = Decide(fixture(Running), Request{Action: "explode"}, fixtureActors["olga"], now)
	if !errors.Is(err, ErrUnknownAction) {
		t.Errorf("unknown action: %v", err)
	}
}

func TestAllowedListsTheButtonsOfAnActor(t *testing.T) {
	for _, tc := range []struct {
		s    State
		who  string
		want string
	}{
		{Draft, "olga", "submit edit cancel"},
		{PendingApproval, "alice", "approve reject"},
		{PendingApproval, "andy", "reject"},
		{Running, "olga", "halt rollback-host rollback-wave rollback-all emergency-stop"},
		{AwaitingSignOff, "sam", "signoff-ok signoff-problem"},
		{AwaitingSignOff, "audrey", ""},
		{RolledBack, "root", ""},
	} {
		var got []string
		for _, a := range Allowed(fixture(tc.s), fixtureActors[tc.who]) {
			got = append(got, string(a))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s for %s: %q, want %q", tc.s, tc.who, strings.Join(got, " "), tc.want)
		}
	}
}

func TestTheDigestCoversWhatTheApproverSawAndNotTheStorageOrder(t *testing.T) {
	w := func(h int) rollout.Window {
		return rollout.Window{Start: now.Add(time.Duration(h) * time.Hour), End: now.Add(time.Duration(h+2) * time.Hour)}
	}
	base := func() Content {
		return Content{Plan: rollout.Plan{Rings: []string{"pilot", "prod"}, BatchSize: 2, JobTimeout: 30 * time.Minute,
			Hosts: []rollout.HostPlan{
				{HostID: "h1", Group: "web", Ring: 0, Targets: []rollout.Target{{Name: "openssl", Arch: "amd64", Version: "3.0.2"}, {Name: "curl", Arch: "amd64", Version: "8.0"}}},
				{HostID: "h2", Group: "db", Ring: 1, Targets: []rollout.Target{{Name: "openssl", Arch: "amd64", Version: "3.0.2"}}, NeedsReboot: true},
			},
			Windows: map[string][]rollout.Window{"web": {w(1), w(25)}, "db": {w(2)}}}, Reboot: "if-required"}
	}
	d0 := base().Digest()
	if len(d0) != 64 {
		t.Fatalf("digest %q is not hex SHA-256", d0)
	}
	reordered := base()
	reordered.Plan.Hosts[0], reordered.Plan.Hosts[1] = reordered.Plan.Hosts[1], reordered.Plan.Hosts[0]
	reordered.Plan.Hosts[1].Targets[0], reordered.Plan.Hosts[1].Targets[1] = reordered.Plan.Hosts[1].Targets[1], reordered.Plan.Hosts[1].Targets[0]
	reordered.Plan.Windows["web"] = []rollout.Window{w(25), w(1)}
	if got := reordered.Digest(); got != d0 {
		t.Errorf("the same content in another order has digest %s, want %s", got, d0)
	}
	changes := map[string]func(c *Content){
		"a version":          func(c *Content) { c.Plan.Hosts[0].Targets[0].Version = "3.0.3" },
		"a host":             func(c *Content) { c.Plan.Hosts = c.Plan.Hosts[:1] },
		"a host's ring":      func(c *Content) { c.Plan.Hosts[1].Ring = 0 },
		"the rings":          func(c *Content) { c.Plan.Rings = []string{"pilot", "production"} },
		"a window":           func(c *Content) { c.Plan.Windows["db"] = []rollout.Window{w(3)} },
		"a host's reboot":    func(c *Content) { c.Plan.Hosts[1].NeedsReboot = false },
		"the reboot policy":  func(c *Content) { c.Reboot = "restart-services" },
		"the batch size":     func(c *Content) { c.Plan.BatchSize = 5 },
		"the start":          func(c *Content) { c.Start = "next-window" },
		"ignoring windows":   func(c *Content) { c.IgnoreWindows = true },
		"restarted services": func(c *Content) { c.Plan.Hosts[0].RestartOnly = []string{"nginx.service"} },
	}
	for name, change := range changes {
		c := base()
		change(&c)
		if c.Digest() == d0 {
			t.Errorf("changing %s keeps the digest", name)
		}
	}
}
