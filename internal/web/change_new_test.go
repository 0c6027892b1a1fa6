package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// createForm is a complete, valid create form.
func createForm() url.Values {
	return url.Values{
		"title":          {"Fix xz and glibc"},
		"advisory":       {"CVE-2024-3094", "CVE-2023-4911"},
		"group":          {"web", "databases"},
		"batch_size":     {"2"},
		"failure_budget": {"1"},
		"ignore_windows": {"1"},
	}
}

func TestTheVulnsPageOffersSelectionOnlyToThoseWhoMayCreate(t *testing.T) {
	e := newEnv(t)
	op := e.signedIn("operator")
	_, body := op.get("/vulns")
	if n := len(parseDOM(t, body).all(`form[action="/changes/new"]`)); n != 1 {
		t.Errorf("the operator's /vulns has %d forms to /changes/new, want one", n)
	}
	if !parseDOM(t, body).has(`input[name=advisory][value=CVE-2024-3094]`) || !strings.Contains(body, "Create change from selected") {
		t.Error("the operator's /vulns has no checkbox per finding or no create button")
	}
	if n := len(parseDOM(t, body).all(`input.select[type=checkbox][name=advisory]`)); n != 3 {
		t.Errorf("%d finding checkboxes, want one per finding (3)", n)
	}
	ap := e.signedIn("approver")
	_, body = ap.get("/vulns")
	if d := parseDOM(t, body); d.postsTo("/changes/new") || d.linksTo("/changes/new") || d.has(`input[name="advisory"]`) {
		t.Error("the approver, who may not create changes, is offered to")
	}
}

func TestCreatingAChangeNeedsThePermissionAndACSRFToken(t *testing.T) {
	e := newEnv(t)
	ap := e.signedIn("approver")
	if resp, _ := ap.get("/changes/new?advisory=CVE-2024-3094"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("approver GET /changes/new: %s, want 403", resp.Status)
	}
	if resp, _ := ap.post("/changes/new", createForm()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("approver POST /changes/new: %s, want 403", resp.Status)
	}

	op := e.signedIn("operator")
	resp, body := op.get("/changes/new?advisory=CVE-2024-3094&advisory=CVE-2023-4911&advisory=CVE-2024-3094")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator GET /changes/new: %s\n%s", resp.Status, body)
	}
	for _, want := range []string{
		`value="Fix CVE-2024-3094 and CVE-2023-4911"`,
		`<input type="hidden" name="advisory" value="CVE-2024-3094">`,
		`<input type="hidden" name="advisory" value="CVE-2023-4911">`,
		`name="group" value="web"`, `name="group" value="databases"`,
		`id="batch_size" name="batch_size" type="number" min="1" max="10000" required value="1"`,
		`name="failure_budget" type="number" min="0" max="10000" required value="0"`,
		`name="ignore_windows" value="1">`,
		`name="csrf" value="`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the create form lacks %s", want)
		}
	}
	if n := len(parseDOM(t, body).all(`input[name=advisory]`)); n != 2 {
		t.Errorf("the form carries %d advisories, want the 2 distinct ones", n)
	}
	if !strings.Contains(body, "lab &lt;script&gt;alert(5)&lt;/script&gt;") || strings.Contains(body, "<script>alert(5)") {
		t.Error("the hostile group name is not shown as text")
	}

	for _, tc := range []struct {
		name, csrf, origin string
	}{
		{"without a token", "", e.srv.URL},
		{"with a wrong token", op.csrf + "x", e.srv.URL},
		{"from another site", op.csrf, "https://evil.example"},
	} {
		form := createForm()
		form.Set("csrf", tc.csrf)
		req, _ := http.NewRequest("POST", e.srv.URL+"/changes/new", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tc.origin)
		if resp, _ := op.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /changes/new %s: %s, want 403", tc.name, resp.Status)
		}
	}
	if len(e.fake.created) != 0 {
		t.Fatalf("a refused POST created a change: %+v", e.fake.created)
	}

	resp, body = op.post("/changes/new", createForm())
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/changes/c2?done=create" {
		t.Fatalf("create: %s to %q, want 303 to /changes/c2?done=create\n%s", resp.Status, loc, body)
	}
	want := ChangeRequest{Title: "Fix xz and glibc", Advisories: []string{"CVE-2024-3094", "CVE-2023-4911"},
		Groups: []string{"web", "databases"}, BatchSize: 2, FailureBudget: 1, IgnoreWindows: true}
	if len(e.fake.created) != 1 || !reflect.DeepEqual(e.fake.created[0], want) {
		t.Errorf("CreateChange got %+v, want %+v", e.fake.created, want)
	}
	_, body = op.get("/changes/c2?done=create")
	if !strings.Contains(body, "Change created and submitted for approval.") || !strings.Contains(body, ">pending approval<") {
		t.Error("the new change's page does not confirm the creation")
	}
	if parseDOM(t, body).text("dd#change-groups") != "web, databases" {
		t.Error("the new change's page does not list its groups")
	}
}

func TestTheCreateFormSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(url.Values)
		status int
		want   string
	}{
		{"no title", func(v url.Values) { v.Set("title", "  ") }, 400, "Give the change a title."},
		{"a title too long", func(v url.Values) { v.Set("title", strings.Repeat("x", maxTitleLen+1)) }, 400, "longer than 200 characters"},
		{"no advisory", func(v url.Values) { v.Del("advisory") }, 400, "Select at least one advisory"},
		{"a malformed advisory", func(v url.Values) { v.Add("advisory", "CVE 1") }, 400, "&#34;CVE 1&#34; is not an advisory ID"},
		{"no group", func(v url.Values) { v.Del("group") }, 400, "Choose at least one group"},
		{"an unknown group", func(v url.Values) { v.Add("group", "mainframes") }, 400, "There is no group &#34;mainframes&#34;"},
		{"a zero batch size", func(v url.Values) { v.Set("batch_size", "0") }, 400, "The batch size must be a whole number from 1"},
		{"a negative failure budget", func(v url.Values) { v.Set("failure_budget", "-1") }, 400, "The failure budget must be a whole number from 0"},
		{"a failure budget that is no number", func(v url.Values) { v.Set("failure_budget", "many") }, 400, "The failure budget must be"},
		{"a soak that is no duration", func(v url.Values) { v.Set("soak", "until friday") }, 400, "The soak time must be a duration"},
		{"a start time that is no time", func(v url.Values) { v.Set("start", "at"); v.Set("start_at", "friday night") }, 400, "The start time must be a date and time"},
		{"an unknown start option", func(v url.Values) { v.Set("start", "whenever") }, 400, "Choose when the change starts"},
		{"an unknown reboot policy", func(v url.Values) { v.Set("reboot", "always-twice") }, 400, "Choose a reboot policy"},
		{"a soak longer than a week", func(v url.Values) { v.Set("soak", "200h") }, 400, "at most 7 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			op := e.signedIn("operator")
			op.get("/changes/new?advisory=CVE-2024-3094")
			form := createForm()
			tc.edit(form)
			resp, body := op.post("/changes/new", form)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%s: %s, want %d with %q\n%s", tc.name, resp.Status, tc.status, tc.want, body)
			}
			if !parseDOM(t, body).has("[role=alert]") || !parseDOM(t, body).postsTo("/changes/new") {
				t.Error("the form is not shown again with the message")
			}
			if form.Get("group") == "web" && !parseDOM(t, body).has("input[name=group][value=web][checked]") {
				t.Error("the re-rendered form forgot the chosen group")
			}
			if len(e.fake.created) != 0 {
				t.Errorf("an invalid form reached the backend: %+v", e.fake.created)
			}
		})
	}
	t.Run("the backend refuses", func(t *testing.T) {
		e := newEnv(t)
		op := e.signedIn("operator")
		op.get("/changes/new?advisory=CVE-2024-3094")
		for _, tc := range []struct {
			err    error
			status int
			want   string
		}{
			{errors.New("no host of group web runs a package CVE-2023-4911 affects"), http.StatusUnprocessableEntity, "no host of group web runs a package"},
			{fmt.Errorf("an open change already fixes CVE-2024-3094: %w", ErrConflict), http.StatusConflict, "an open change already fixes CVE-2024-3094"},
			{ErrForbidden, http.StatusForbidden, "You may not do this."},
		} {
			e.fake.mu.Lock()
			e.fake.createErr = tc.err
			e.fake.mu.Unlock()
			resp, body := op.post("/changes/new", createForm())
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("backend error %v: %s, want %d with %q", tc.err, resp.Status, tc.status, tc.want)
			}
		}
	})
	t.Run("nothing selected", func(t *testing.T) {
		e := newEnv(t)
		op := e.signedIn("operator")
		if _, body := op.get("/changes/new"); !strings.Contains(body, "No advisory is selected") {
			t.Error("GET /changes/new without advisories does not say to select some")
		}
	})
}

func TestSignOffIsOfferedOnlyAwaitingSignOffAndOnlyWithThePermission(t *testing.T) {
	e := newEnv(t)
	sh := e.signedIn("stakeholder")
	op := e.signedIn("operator")

	if _, body := sh.get("/changes/c1"); parseDOM(t, body).postsTo("/changes/c1/signoff") {
		t.Error("sign-off forms are shown for a change pending approval")
	}
	if resp, _ := sh.post("/changes/c1/signoff", url.Values{"group": {"web"}, "ok": {"1"}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("signing off a change pending approval: %s, want 409", resp.Status)
	}

	e.fake.finishRollout("c1")
	_, body := sh.get("/changes/c1")
	if n := len(parseDOM(t, body).all(`form[action="/changes/c1/signoff"]`)); n != 3 {
		t.Fatalf("the stakeholder sees %d sign-off forms, want one per group (3)", n)
	}
	for _, want := range []string{`<input type="hidden" name="group" value="web">`, `name="ok" value="1"`, `name="ok" value="0"`,
		`<textarea id="problem-1" name="problem"`, "Systems work", "Report problem", "lab &lt;script&gt;alert(5)&lt;/script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("the sign-off forms lack %s", want)
		}
	}
	if _, body := op.get("/changes/c1"); parseDOM(t, body).postsTo("/changes/c1/signoff") {
		t.Error("the operator, who may not sign off, sees sign-off forms")
	}
	if resp, _ := op.post("/changes/c1/signoff", url.Values{"group": {"web"}, "ok": {"1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator POST signoff: %s, want 403", resp.Status)
	}

	resp, _ := sh.post("/changes/c1/signoff", url.Values{"group": {"web"}, "ok": {"1"}, "problem": {"ignored"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/changes/c1?done=signoff" {
		t.Fatalf("sign off web: %s to %q", resp.Status, loc)
	}
	_, body = sh.get("/changes/c1?done=signoff")
	if !strings.Contains(body, "Sign-off recorded.") || !parseDOM(t, body).hasText("tr", "web systems work stakeholder") || !parseDOM(t, body).has("tr td span.tag.st-ok") {
		t.Errorf("the change does not list the web sign-off:\n%s", body)
	}
	if d := parseDOM(t, body); d.has(`form[action="/changes/c1/signoff"] input[name=group][value=web]`) || len(d.all(`form[action="/changes/c1/signoff"]`)) != 2 {
		t.Error("the signed-off group still has its form, or another group lost its form")
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"a problem without a description", url.Values{"group": {"databases"}, "ok": {"0"}, "problem": {"  "}}, 400, "Describe the problem with databases"},
		{"a group the change does not target", url.Values{"group": {"mainframes"}, "ok": {"1"}}, 400, "does not target the group"},
		{"no verdict", url.Values{"group": {"databases"}}, 400, "Choose Systems work or Report problem."},
		{"a group signed off already", url.Values{"group": {"web"}, "ok": {"1"}}, 409, "already signed off"},
	} {
		resp, body := sh.post("/changes/c1/signoff", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %s, want %d with %q", tc.name, resp.Status, tc.status, tc.want)
		}
	}

	resp, _ = sh.post("/changes/c1/signoff", url.Values{"group": {"databases"}, "ok": {"0"}, "problem": {"reports <b>fail</b> since the update"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("report a problem: %s", resp.Status)
	}
	sh.post("/changes/c1/signoff", url.Values{"group": {hostileGroup}, "ok": {"1"}})
	_, body = sh.get("/changes/c1")
	if !strings.Contains(body, "reports &lt;b&gt;fail&lt;/b&gt; since the update") {
		t.Error("the reported problem is not listed as text")
	}
	if d := parseDOM(t, body); d.postsEndingIn("/signoff") || !d.hasText(".tag", "done") {
		t.Error("after every group signed off the change is not done or still offers forms")
	}
	if got := e.fake.recorded("change.signoff"); got != 3 {
		t.Errorf("%d sign-offs recorded, want 3", got)
	}
}

func TestTheCSRFWalkCoversTheNewForms(t *testing.T) {
	var c console
	var posts []string
	for _, rt := range c.routes() {
		if rt.method == "POST" {
			posts = append(posts, rt.pattern)
		}
	}
	for _, want := range []string{"/changes/new", "/changes/{id}/signoff"} {
		if !strings.Contains(strings.Join(posts, " "), want) {
			t.Errorf("POST %s is not in the route table the CSRF test walks: %v", want, posts)
		}
	}
}

// The reboot policy and the start choice reach the backend as the API
// spells them: a datetime-local value becomes an RFC 3339 time in UTC.
func TestTheCreateFormPassesRebootAndStart(t *testing.T) {
	for _, tc := range []struct {
		reboot, start, at  string
		wantReboot, wantAt string
	}{
		{"", "", "", "", ""},
		{"restart-services", "next-window", "", "restart-services", "next-window"},
		{"", "at", "2026-12-11T21:30", "", "2026-12-11T21:30:00Z"},
		{"", "at", "2026-12-11T22:30:00+01:00", "", "2026-12-11T21:30:00Z"},
	} {
		v := createForm()
		v.Set("reboot", tc.reboot)
		v.Set("start", tc.start)
		v.Set("start_at", tc.at)
		f := parseChangeForm(v, []string{"web", "databases"})
		if len(f.problems) > 0 || f.req.Reboot != tc.wantReboot || f.req.Start != tc.wantAt {
			t.Errorf("reboot %q, start %q at %q: got reboot %q, start %q, problems %q", tc.reboot, tc.start, tc.at,
				f.req.Reboot, f.req.Start, f.problems)
		}
	}
}

// TestTheCreateFormCarriesThePlanOverrides: the two checkboxes reach the
// backend as AllowDowngrade and ForceNotOffered, and are off by default.
func TestTheCreateFormCarriesThePlanOverrides(t *testing.T) {
	e := newEnv(t)
	op := e.signedIn("operator")
	_, body := op.get("/changes/new?advisory=CVE-2024-3094")
	for _, want := range []string{
		`<input type="checkbox" id="allow_downgrade" name="allow_downgrade" value="1">`,
		`<input type="checkbox" id="force_not_offered" name="force_not_offered" value="1">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the create form lacks %s", want)
		}
	}
	form := createForm()
	form.Set("allow_downgrade", "1")
	form.Set("force_not_offered", "1")
	if resp, body := op.post("/changes/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s\n%s", resp.Status, body)
	}
	if len(e.fake.created) != 1 || !e.fake.created[0].AllowDowngrade || !e.fake.created[0].ForceNotOffered {
		t.Errorf("CreateChange got %+v, want both overrides", e.fake.created)
	}
	if f := parseChangeForm(createForm(), []string{"web", "databases"}); f.req.AllowDowngrade || f.req.ForceNotOffered {
		t.Errorf("overrides without the checkboxes: %+v", f.req)
	}
}
