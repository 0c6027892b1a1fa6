package server

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/patchbay/patchbay/internal/api"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// The change lifecycle through the API, with orgServer's organisation:
// team payments (alice operator, bob approver, carol stakeholder) owns
// payments-prod (host-1; stakeholder carol, sysadmin alice); team platform
// (dave admin, erin security, frank auditor) owns public-web.

const opensslChange = `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`

func createChange(t *testing.T, ts *testServer, token, spec string) ChangeView {
	t.Helper()
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", token, []byte(spec), &ch); code != 201 {
		t.Fatalf("create: %d", code)
	}
	return ch
}

// act posts a change action and returns the status and the change after it.
func act(t *testing.T, ts *testServer, token, id, action, body string) (int, ChangeView) {
	t.Helper()
	var ch ChangeView
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	code := ts.call(t, "POST", "/api/v1/changes/"+id+"/"+action, token, b, &ch)
	return code, ch
}

func mustAct(t *testing.T, ts *testServer, token, id, action string, wantState string) {
	t.Helper()
	if code, ch := act(t, ts, token, id, action, ""); code != 200 || ch.State != wantState {
		t.Fatalf("%s: %d, state %q, want 200 and %s", action, code, ch.State, wantState)
	}
}

func getChange(t *testing.T, ts *testServer, token, id string) ChangeView {
	t.Helper()
	var ch ChangeView
	if code := ts.call(t, "GET", "/api/v1/changes/"+id, token, nil, &ch); code != 200 {
		t.Fatalf("get: %d", code)
	}
	return ch
}

// event is the change's history line that starts like prefix ("" when
// none does): events of one instant are not ordered by time.
func event(ch ChangeView, prefix string) string {
	for _, e := range ch.History {
		if strings.HasPrefix(e.Detail, prefix) {
			return e.Detail
		}
	}
	return ""
}

// addWebHost enrolls host-3 (web-1) in platform's public-web group.
func addWebHost(t *testing.T, ts *testServer, clock *fakeClock) {
	t.Helper()
	ctx, db := context.Background(), ts.db
	if err := db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk3", Hash: "h3", Prefix: "p3", ExpiresAt: clock.now().Add(time.Hour), CreatedAt: clock.now(),
		Labels: map[string]string{"role": "web"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnrollHost(ctx, "h3", store.Host{ID: "host-3", Hostname: "web-1", CertSerial: "s3", CertNotAfter: clock.now().AddDate(1, 0, 0),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyCheckin(ctx, "host-3", store.Checkin{Facts: inventory.Facts{OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, PackageFormat: inventory.FormatDpkg},
		Full: true, Packages: []inventory.Package{{Name: "openssl", Version: "3.0.2-0ubuntu1", Arch: "amd64"}}, Updates: paymentsUpdates}, clock.now()); err != nil {
		t.Fatal(err)
	}
}

// runToSignOff starts an approved change and plays its agents (every job
// ok, openssl at the target) until the engine is done.
func runToSignOff(t *testing.T, ts *testServer, tok map[string]string, clock *fakeClock, id string) {
	t.Helper()
	ctx := context.Background()
	mustAct(t, ts, tok["alice"], id, "start", ChangeRunning)
	for range 10 {
		c, err := ts.db.GetChange(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == ChangeAwaitingSignOff {
			return
		}
		if err := ts.Server.stepChange(ctx, c); err != nil && !errors.Is(err, store.ErrRevisionMismatch) {
			t.Fatal(err)
		}
		clock.advance(time.Minute)
		jobs, _ := ts.db.ChangeJobs(ctx, id)
		for _, j := range jobs {
			if j.FinishedAt != nil {
				continue
			}
			res, _ := json.Marshal(protocol.JobResult{JobID: j.ID, OK: true, Installed: map[string]string{"openssl:amd64": "3.0.2-0ubuntu1.9"}})
			if _, err := ts.db.FinishJob(ctx, j.HostID, j.ID, res, clock.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, _ := ts.db.GetChange(ctx, id)
	t.Fatalf("change %s did not reach awaiting-signoff: %s", id, c.State)
}

func TestAnEditByAnyoneVoidsTheApprovalAndEditorsMayNotApprove(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ch := createChange(t, ts, tok["alice"], opensslChange)
	mustAct(t, ts, tok["alice"], ch.ID, "submit", ChangePendingApproval)
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	// dave, a global admin who did not write it, edits the approved change.
	edited := strings.Replace(opensslChange, `"title":"openssl"`, `"title":"openssl and more"`, 1)
	var after ChangeView
	if code := ts.call(t, "PUT", "/api/v1/changes/"+ch.ID, tok["dave"], []byte(edited), &after); code != 200 {
		t.Fatalf("edit: %d", code)
	}
	if after.State != ChangePendingApproval || after.ApprovedBy != "" || after.ApprovedAt != nil {
		t.Fatalf("after dave's edit: %s, approved by %q at %v; want pending-approval and no approval", after.State, after.ApprovedBy, after.ApprovedAt)
	}
	if got := event(getChange(t, ts, tok["frank"], ch.ID), "edited by"); got != "edited by dave; the approval by bob is void" {
		t.Errorf("edit event %q", got)
	}
	stored, _ := ts.db.GetChange(context.Background(), ch.ID)
	if stored.ApprovedDigest != "" || !slices.Equal(stored.Editors, []string{"dave"}) {
		t.Errorf("stored: approved digest %q, editors %q; want none and [dave]", stored.ApprovedDigest, stored.Editors)
	}
	// The editor may not approve what he edited, even as admin.
	if code, _ := act(t, ts, tok["dave"], ch.ID, "approve", ""); code != 403 {
		t.Errorf("the editor approved: %d, want 403", code)
	}
	if code, _ := act(t, ts, tok["alice"], ch.ID, "start", ""); code != 409 {
		t.Errorf("started without a new approval: %d, want 409", code)
	}
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	mustAct(t, ts, tok["alice"], ch.ID, "start", ChangeRunning)
}

func TestTheAuthorMayNotApproveAndAPlanChangedSinceApprovalDoesNotStart(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ch := createChange(t, ts, tok["dave"], opensslChange) // dave: global admin, so he may approve changes
	mustAct(t, ts, tok["dave"], ch.ID, "submit", ChangePendingApproval)
	if code, msg := refusal(t, ts, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["dave"]); code != 403 ||
		msg != "dave wrote change "+ch.ID+"; an approver who neither wrote nor edited it must approve it" {
		t.Fatalf("the author approved his own change: %d %q", code, msg)
	}
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	stored, _ := ts.db.GetChange(context.Background(), ch.ID)
	if len(stored.ApprovedDigest) != 64 {
		t.Fatalf("the approval recorded digest %q, want a SHA-256", stored.ApprovedDigest)
	}
	if got := event(getChange(t, ts, tok["frank"], ch.ID), "approved by"); got != "approved by bob (plan digest "+stored.ApprovedDigest[:12]+")" {
		t.Errorf("approval event %q", got)
	}
	// Someone changes the stored plan behind the API's back: the start
	// refuses a plan that is not the approved one.
	stored.Plan = []byte(strings.Replace(string(stored.Plan), "3.0.2-0ubuntu1.9", "3.0.2-0ubuntu1.66", 1))
	if _, err := ts.db.UpdateChange(context.Background(), stored.Revision, store.ChangeUpdate{Change: stored}, clock.now()); err != nil {
		t.Fatal(err)
	}
	code, msg := refusal(t, ts, "POST", "/api/v1/changes/"+ch.ID+"/start", tok["alice"])
	if code != 409 || !strings.Contains(msg, ") is not the approved one ("+stored.ApprovedDigest[:12]+"); submit it for approval again") {
		t.Fatalf("started a plan that is not the approved one: %d %q", code, msg)
	}
}

// stepOnce runs the engine once on change id.
func (ts *testServer) stepOnce(t *testing.T, id string) {
	t.Helper()
	c, err := ts.db.GetChange(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.stepChange(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// refusal makes a request without a body and returns its status and error message.
func refusal(t *testing.T, ts *testServer, method, path, token string) (int, string) {
	t.Helper()
	return refusalOf(t, ts, method, path, token, nil)
}

// refusalOf makes a request with body (none when nil) and returns its
// status and error message.
func refusalOf(t *testing.T, ts *testServer, method, path, token string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Message
}

func TestAnApproverOfAnotherTeamIsRefusedAndAnAdminOutsideHisTeamsIsRecorded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	addWebHost(t, ts, clock)
	both := createChange(t, ts, tok["alice"], `{"title":"openssl everywhere","groups":["payments-prod","public-web"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`)
	if len(both.Plan.Hosts) != 2 {
		t.Fatalf("plan: %+v", both.Plan.Hosts)
	}
	mustAct(t, ts, tok["alice"], both.ID, "submit", ChangePendingApproval)
	// bob approves for payments, not for platform, which owns public-web.
	if code, msg := refusal(t, ts, "POST", "/api/v1/changes/"+both.ID+"/approve", tok["bob"]); code != 403 ||
		msg != "bob is not an approver or security member of team platform, which owns a target group of change "+both.ID+"; ask one of its approvers" {
		t.Fatalf("bob approved a change with a platform group: %d %q", code, msg)
	}
	// An approver in no team at all is refused too.
	pat := ts.userToken(t, "pat", RoleApprover)
	if code, _ := act(t, ts, pat, both.ID, "approve", ""); code != 403 {
		t.Errorf("an approver of no team approved: %d", code)
	}
	if c := getChange(t, ts, tok["frank"], both.ID); c.State != ChangePendingApproval {
		t.Errorf("after refused approvals: %s", c.State)
	}
	// The bootstrap admin token is in no team: allowed, and recorded as such.
	mustAct(t, ts, tok["admin"], both.ID, "approve", ChangeApproved)
	got := event(getChange(t, ts, tok["frank"], both.ID), "approved by")
	if !strings.HasPrefix(got, "approved by token:") || !strings.HasSuffix(got, ") as global admin outside team payments, platform") {
		t.Errorf("admin approval event %q, want it to say he approved outside teams payments and platform", got)
	}
}

func TestASignOffWithAProblemCompletesWithProblemsAndTellsTheAuthorAndSysadmin(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ch := createChange(t, ts, tok["erin"], opensslChange) // erin (security) writes it; alice is the group's sysadmin
	mustAct(t, ts, tok["erin"], ch.ID, "submit", ChangePendingApproval)
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	runToSignOff(t, ts, tok, clock, ch.ID)
	if w := getChange(t, ts, tok["frank"], ch.ID).Waiting; w != "sign-offs of payments-prod (carol)" {
		t.Errorf("awaiting sign-off, waiting for %q", w)
	}
	// Only the group's stakeholder signs off.
	other := ts.userToken(t, "sid", RoleStakeholder)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/signoff", other, []byte(`{"group":"payments-prod","ok":true}`), nil); code != 403 {
		t.Errorf("another stakeholder signed off: %d", code)
	}
	var so api.SignOff // snake_case: kb_id
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/signoff", tok["carol"],
		[]byte(`{"group":"payments-prod","ok":false,"problem":"checkout fails with TLS errors"}`), &so); code != 200 {
		t.Fatalf("sign-off with a problem: %d", code)
	}
	after := getChange(t, ts, tok["frank"], ch.ID)
	if after.State != "completed-with-problems" {
		t.Fatalf("after a problem sign-off: %s, want completed-with-problems", after.State)
	}
	for _, e := range after.History {
		if strings.Contains(e.Detail, "every group signed off") {
			t.Errorf("history says %q after a problem", e.Detail)
		}
	}
	if got := event(after, "carol signed off"); got != "carol signed off with a problem for payments-prod (checkout fails with TLS errors); completed with problems" {
		t.Errorf("sign-off event %q", got)
	}
	// The knowledge-base draft is kept, linked to the change.
	kb, err := ts.db.GetKBEntry(context.Background(), so.KBID)
	if err != nil || kb.Status != "draft" || !slices.Equal(kb.Changes, []string{ch.ID}) || kb.Problem != "checkout fails with TLS errors" {
		t.Errorf("knowledge-base draft: %+v %v", kb, err)
	}
	// The author and the group's sysadmin are told.
	ns, _ := ts.db.ListOutbox(context.Background(), store.OutboxFilter{Kind: "signoff.problem", Channel: "console"})
	var told []string
	for _, n := range ns {
		told = append(told, n.Recipient+"/"+n.Role)
	}
	slices.Sort(told)
	if !slices.Equal(told, []string{"alice/sysadmin", "erin/author"}) {
		t.Errorf("problem notification to %q, want erin (author) and alice (sysadmin)", told)
	}
	// Retrospectives count it as a change with a problem.
	var retros struct {
		Items []Retrospective `json:"items"`
	}
	ts.call(t, "GET", "/api/v1/retrospectives", tok["frank"], nil, &retros)
	if len(retros.Items) != 1 || retros.Items[0].State != "completed-with-problems" || retros.Items[0].Problems != 1 || retros.Items[0].Waves != 1 {
		t.Errorf("retrospectives: %+v", retros.Items)
	}
	// A second verdict for the group is refused; the problem stands.
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/signoff", tok["carol"], []byte(`{"group":"payments-prod","ok":true}`), nil); code != 409 {
		t.Errorf("second sign-off: %d, want 409", code)
	}
}

func TestDraftPendingApprovedAndScheduledChangesCanBeCancelled(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	for _, tc := range []struct {
		name    string
		spec    string
		actions []string
		before  string
	}{
		{"draft", opensslChange, nil, ChangeDraft},
		{"pending approval", opensslChange, []string{"submit"}, ChangePendingApproval},
		{"approved", opensslChange, []string{"submit", "approve"}, ChangeApproved},
		{"scheduled", strings.Replace(opensslChange, `"ignore_windows":true`, `"start":"next-window"`, 1), []string{"submit", "approve"}, ChangeScheduled},
	} {
		ch := createChange(t, ts, tok["alice"], tc.spec)
		for _, a := range tc.actions {
			who := tok["alice"]
			if a == "approve" {
				who = tok["bob"]
			}
			if code, _ := act(t, ts, who, ch.ID, a, ""); code != 200 {
				t.Fatalf("%s: %s: %d", tc.name, a, code)
			}
		}
		if c := getChange(t, ts, tok["frank"], ch.ID); c.State != tc.before {
			t.Fatalf("%s: state %s", tc.name, c.State)
		}
		if code, _ := act(t, ts, tok["frank"], ch.ID, "cancel", ""); code != 403 {
			t.Errorf("%s: the auditor cancelled: %d", tc.name, code)
		}
		code, after := act(t, ts, tok["alice"], ch.ID, "cancel", "")
		if code != 200 || after.State != ChangeCancelled {
			t.Errorf("%s: cancel: %d %s", tc.name, code, after.State)
		}
		if got := event(getChange(t, ts, tok["frank"], ch.ID), "cancelled"); got != "cancelled by alice" {
			t.Errorf("%s: cancel event %q", tc.name, got)
		}
	}
	// A running change is halted or rolled back, not cancelled.
	ch := createChange(t, ts, tok["alice"], opensslChange)
	mustAct(t, ts, tok["alice"], ch.ID, "submit", ChangePendingApproval)
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	mustAct(t, ts, tok["alice"], ch.ID, "start", ChangeRunning)
	if code, msg := refusal(t, ts, "POST", "/api/v1/changes/"+ch.ID+"/cancel", tok["alice"]); code != 409 ||
		msg != "change "+ch.ID+" is running; cancel needs it draft or pending-approval or approved or scheduled" {
		t.Errorf("cancel of a running change: %d %q", code, msg)
	}
}

func TestShowSaysWhatTheChangeWaitsForAndCountsWavesWithHosts(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	// payments-prod's window: second Tuesday + 3 days, 22:00 Berlin; the
	// next one opens 2026-12-11 21:00 UTC.
	ch := createChange(t, ts, tok["alice"], `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`)
	if len(ch.Plan.Rings) != 3 || ch.Waves != 1 {
		t.Errorf("rings %v, waves %d: want three rings of which one (production) has hosts", ch.Plan.Rings, ch.Waves)
	}
	for _, step := range []struct {
		action, token, want string
	}{
		{"", "", "submission by its author"},
		{"submit", "alice", "an approval by an approver of team payments"},
		{"approve", "bob", "an operator to start it"},
		{"start", "alice", `group "payments-prod" window opens 2026-12-11T21:00:00Z; ring "production": 1 hosts unfinished, 0 in flight`},
		{"halt", "alice", "a resume or a rollback (halted: halted by alice)"},
	} {
		if step.action != "" {
			if code, _ := act(t, ts, tok[step.token], ch.ID, step.action, ""); code != 200 {
				t.Fatalf("%s: %d", step.action, code)
			}
		}
		v := getChange(t, ts, tok["frank"], ch.ID)
		if v.Waiting != step.want {
			t.Errorf("after %q: waiting for %q, want %q", step.action, v.Waiting, step.want)
		}
		if v.Waves != 1 {
			t.Errorf("after %q: %d waves, want 1", step.action, v.Waves)
		}
	}
	sched := createChange(t, ts, tok["alice"], `{"title":"later","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"start":"next-window"}`)
	mustAct(t, ts, tok["alice"], sched.ID, "submit", ChangePendingApproval)
	mustAct(t, ts, tok["bob"], sched.ID, "approve", ChangeScheduled)
	if w := getChange(t, ts, tok["frank"], sched.ID).Waiting; w != "its start at 2026-12-11T21:00:00Z" {
		t.Errorf("scheduled: waiting for %q", w)
	}
}

func TestTheConsoleOffersOnlyTheActionsTheTableAllowsTheUser(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	b := consoleBackend{ts.Server}
	user := func(name, role string) web.User {
		u, err := ts.db.GetUserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return web.User{ID: u.ID, Username: name, Role: role}
	}
	ch := createChange(t, ts, tok["alice"], opensslChange)
	mustAct(t, ts, tok["alice"], ch.ID, "submit", ChangePendingApproval)
	if code := ts.call(t, "PUT", "/api/v1/changes/"+ch.ID, tok["dave"], []byte(opensslChange), nil); code != 200 {
		t.Fatalf("dave's edit: %d", code)
	}
	for _, tc := range []struct {
		name, role string
		want       []string
	}{
		{"alice", RoleOperator, []string{"cancel"}},          // the author: no approval of her own change
		{"bob", RoleApprover, []string{"approve", "reject"}}, // payments' approver
		{"dave", RoleAdmin, []string{"reject", "cancel"}},    // edited it: may not approve
		{"frank", RoleAuditor, nil},
	} {
		got, err := b.ChangeActions(ctx, user(tc.name, tc.role), ch.ID)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s sees %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
	// The console's approve runs the same rule: dave is refused.
	if err := b.ChangeAction(ctx, user("dave", RoleAdmin), ch.ID, "approve"); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("console approve by the editor: %v, want forbidden", err)
	}
	if err := b.ChangeAction(ctx, user("alice", RoleOperator), ch.ID, "cancel"); err != nil {
		t.Errorf("console cancel by the author: %v", err)
	}
}

func TestRollbackOfAHostByNameHaltsAndOfTheWholeChangeEndsRolledBack(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	addPaymentsHost(t, ts, clock)
	ctx := context.Background()
	ch := createChange(t, ts, tok["alice"], strings.Replace(opensslChange, `"ignore_windows":true`, `"ignore_windows":true,"batch_size":2`, 1))
	mustAct(t, ts, tok["alice"], ch.ID, "submit", ChangePendingApproval)
	mustAct(t, ts, tok["bob"], ch.ID, "approve", ChangeApproved)
	mustAct(t, ts, tok["alice"], ch.ID, "start", ChangeRunning)
	step := func() {
		t.Helper()
		ts.stepOnce(t, ch.ID)
		clock.advance(time.Minute)
	}
	finishAll := func(version string) {
		t.Helper()
		jobs, _ := ts.db.ChangeJobs(ctx, ch.ID)
		for _, j := range jobs {
			if j.FinishedAt != nil || j.Status == "withdrawn" {
				continue
			}
			res, _ := json.Marshal(protocol.JobResult{JobID: j.ID, OK: true, Installed: map[string]string{"openssl:amd64": version},
				Previous: map[string]string{"openssl:amd64": "3.0.2-0ubuntu1"}})
			if _, err := ts.db.FinishJob(ctx, j.HostID, j.ID, res, clock.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	step()
	finishAll("3.0.2-0ubuntu1.9")
	step() // both hosts succeeded; the engine is done
	if code, msg := refusalBody(t, ts, "/api/v1/changes/"+ch.ID+"/rollback", tok["alice"], `{"hosts":["pay-9"]}`); code != 400 ||
		msg != `hosts: "pay-9" is neither a host ID nor a hostname of change `+ch.ID {
		t.Errorf("rollback of an unknown host: %d %q", code, msg)
	}
	if code, msg := refusalBody(t, ts, "/api/v1/changes/"+ch.ID+"/rollback", tok["alice"], `{"wave":"moon"}`); code != 400 ||
		!strings.HasPrefix(msg, `wave: "moon" is not a ring of change `+ch.ID) {
		t.Errorf("rollback of an unknown wave: %d %q", code, msg)
	}
	// One host, by hostname: it goes back and the change halts for a person.
	if code, after := act(t, ts, tok["alice"], ch.ID, "rollback", `{"hosts":["pay-1"]}`); code != 200 || after.State != ChangeHalted {
		t.Fatalf("rollback of pay-1: %d %s, want halted", code, after.State)
	}
	// Then the whole change: nothing more goes forward, and it ends rolled back.
	if code, after := act(t, ts, tok["alice"], ch.ID, "rollback", ""); code != 200 || after.State != "rolling-back" {
		t.Fatalf("rollback of the whole change: %d %s, want rolling-back", code, after.State)
	}
	if code, _ := act(t, ts, tok["alice"], ch.ID, "resume", ""); code != 409 {
		t.Errorf("resumed a rolling-back change: %d", code)
	}
	for range 4 {
		step()
		finishAll("3.0.2-0ubuntu1")
	}
	step()
	v := getChange(t, ts, tok["frank"], ch.ID)
	if v.State != "rolled-back" || v.Summary == nil || v.Summary.RolledBack != 2 {
		t.Fatalf("after the rollback: %s, %+v; want rolled-back with 2 hosts rolled back", v.State, v.Summary)
	}
	if code, _ := act(t, ts, tok["alice"], ch.ID, "rollback", ""); code != 409 {
		t.Errorf("rolled back a rolled-back change again: %d", code)
	}
}

// refusalBody posts body and returns the status and error message.
func refusalBody(t *testing.T, ts *testServer, path, token, body string) (int, string) {
	t.Helper()
	return refusalOf(t, ts, "POST", path, token, strings.NewReader(body))
}
