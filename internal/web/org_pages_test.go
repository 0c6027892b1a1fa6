package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

var orgPages = []string{"/groups", "/groups/web", "/calendar", "/calendar?month=2026-12", "/calendar?week=2026-11-23", "/calendars",
	"/exceptions", "/exceptions?state=pending", "/exceptions/new", "/kb", "/kb?q=nginx", "/kb/k1", "/kb/k2", "/kb/new", "/kb/k2/edit"}

func TestOrgPagesOpenForTheirRoles(t *testing.T) {
	b := newEnv(t).signedIn("admin")
	for _, path := range orgPages {
		if resp, body := b.get(path); resp.StatusCode != 200 {
			t.Errorf("admin GET %s: %s\n%.500s", path, resp.Status, body)
		}
	}
	_, body := b.get("/")
	for _, href := range []string{`href="/groups"`, `href="/calendar"`, `href="/exceptions"`, `href="/kb"`} {
		if !strings.Contains(body, href) {
			t.Errorf("the admin's navigation lacks %s", href)
		}
	}
}

func TestOrgRoutesRefuseARoleWithoutThePermission(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		user  string
		gets  []string
		posts []string
	}{
		{"auditor", []string{"/calendars", "/exceptions/new", "/kb/new", "/kb/k1/edit"},
			[]string{"/calendars", "/calendars/cal1/revoke", "/exceptions/new", "/exceptions/e1/approve", "/exceptions/e1/revoke", "/kb/new", "/kb/k1/edit"}},
		{"stakeholder", []string{"/exceptions/new"}, []string{"/exceptions/new", "/exceptions/e1/approve", "/exceptions/e1/revoke"}},
		{"operator", nil, []string{"/exceptions/e1/approve"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			b := e.signedIn(tc.user)
			for _, path := range tc.gets {
				if resp, body := b.get(path); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs the permission") {
					t.Errorf("%s GET %s: %s, want 403 naming the permission", tc.user, path, resp.Status)
				}
			}
			for _, path := range tc.posts {
				if resp, _ := b.post(path, url.Values{"title": {"x"}}); resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s POST %s: %s, want 403", tc.user, path, resp.Status)
				}
			}
		})
	}
	// Nothing a refused POST asked for happened.
	if ex, _ := e.fake.Exceptions(t.Context(), User{Role: "admin"}); ex[0].State != "pending" {
		t.Errorf("a refused approval changed exception e1: %s", ex[0].State)
	}
	// The auditor reads but gets no buttons or links to forms.
	b := e.signedIn("auditor")
	for path, forbidden := range map[string][]string{ // forms posted to, or pages linked to
		"/exceptions": {"/exceptions/e1/approve", "/exceptions/e1/revoke", "/exceptions/new"},
		"/kb":         {"/kb/new"},
		"/kb/k1":      {"/kb/k1/edit"},
		"/calendar":   {"/calendars"},
	} {
		resp, body := b.get(path)
		if resp.StatusCode != 200 {
			t.Errorf("auditor GET %s: %s", path, resp.Status)
		}
		d := parseDOM(t, body)
		for _, target := range forbidden {
			if d.postsTo(target) || d.linksTo(target) {
				t.Errorf("auditor GET %s offers %s", path, target)
			}
		}
	}
}

func TestTheCSRFWalkCoversEveryOrgPost(t *testing.T) {
	var c console
	var posts []string
	for _, rt := range c.routes() {
		if rt.method == "POST" {
			posts = append(posts, rt.pattern)
		}
	}
	for _, rt := range c.orgRoutes() {
		if rt.method == "POST" && !slices.Contains(posts, rt.pattern) {
			t.Errorf("POST %s is not in the route table TestEveryPostRefusesAMissingOrWrongCSRFToken walks", rt.pattern)
		}
	}
	if n := len(c.orgRoutes()); n < 17 {
		t.Errorf("%d organisation routes, want 17", n)
	}
}

func TestOrgPagesRenderUntrustedTextInert(t *testing.T) {
	b := newEnv(t).signedIn("admin")
	for _, path := range append(slices.Clone(orgPages), "/groups/"+url.PathEscape(hostileGroup), "/calendar?month=2026-11") {
		t.Run(path, func(t *testing.T) {
			resp, body := b.get(path)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %s", path, resp.Status)
			}
			for _, raw := range []string{"<script>alert", "<img src=x", `'!A0`, "onerror=alert(7)>"} {
				if strings.Contains(body, raw) {
					t.Errorf("GET %s contains the raw %q", path, raw)
				}
			}
			if len(parseDOM(t, body).all("script")) != 1 {
				t.Errorf("GET %s has %d script elements, want only the app's", path, len(parseDOM(t, body).all("script")))
			}
		})
	}
	_, body := b.get("/groups/" + url.PathEscape(hostileGroup))
	if !strings.Contains(body, "lab &lt;script&gt;alert(5)&lt;/script&gt;") || !strings.Contains(body, "=cmd|&#39; /C calc&#39;!A0") {
		t.Error("the hostile group's name and sysadmin do not show as text")
	}
	_, body = b.get("/groups")
	if !parseDOM(t, body).linksTo("/groups/lab%20%3Cscript%3Ealert%285%29%3C%2Fscript%3E") {
		t.Error("the hostile group's link is not one escaped path segment")
	}
	_, body = b.get("/kb/k2")
	if !strings.Contains(body, "&lt;script&gt;alert(8)&lt;/script&gt;") {
		t.Error("the hostile knowledge-base problem does not show as text")
	}
}

func TestGroupsListOwnersAndNextWindows(t *testing.T) {
	b := newEnv(t).signedIn("stakeholder")
	_, body := b.get("/groups")
	// Nov 25 09:00: today's window is over and the data team's freeze
	// takes Nov 26 and 27, so the next opens on Monday Nov 30.
	for _, want := range []string{"databases", "production", "data team", "2026-11-30 06:00 UTC", "weekday-mornings"} {
		if !strings.Contains(body, want) {
			t.Errorf("the group list lacks %q", want)
		}
	}
	_, body = b.get("/groups/databases")
	for _, want := range []string{"db-01.example.net", "2026-11-30 06:00 UTC", "2026-12-01 06:00 UTC", "approver", "Freezes", "year-end"} {
		if !strings.Contains(body, want) {
			t.Errorf("the databases group page lacks %q", want)
		}
	}
	if strings.Contains(body, "2026-11-26 06:00 UTC") {
		t.Error("the group page lists a window a freeze covers")
	}
	if resp, _ := b.get("/groups/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing group: %s, want 404", resp.Status)
	}
}

func TestCalendarShowsMonthsAndWeeks(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("operator")
	_, body := b.get("/calendar")
	for _, want := range []string{"November 2026", `href="/calendar?month=2026-12"`, `href="/calendar?month=2026-10"`, "tuesday-night", "ev-frozen", "Freeze: "} {
		if !strings.Contains(body, want) {
			t.Errorf("the November calendar lacks %q", want)
		}
	}
	_, body = b.get("/calendar?month=2026-12")
	if !strings.Contains(body, "December 2026") || !strings.Contains(body, "Freeze: year-end") {
		t.Error("the December calendar does not show the year-end freeze")
	}
	_, body = b.get("/calendar?week=2026-11-25")
	if !strings.Contains(body, "Week of Monday 23 November 2026") || strings.Count(body, "<tr") != 2 {
		t.Errorf("the week view is not the one week of Nov 23 (%d rows)", strings.Count(body, "<tr"))
	}
	// An approved change shows on the calendar.
	e.fake.ChangeAction(t.Context(), User{Username: "approver", Role: "approver"}, "c1", "approve")
	_, body = b.get("/calendar")
	if !parseDOM(t, body).linksTo("/changes/c1") {
		t.Error("the approved change is not on the calendar")
	}
	for _, path := range []string{"/calendar?month=2026-13", "/calendar?week=tuesday", "/calendar?month=1999-01"} {
		if resp, _ := b.get(path); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", path, resp.Status)
		}
	}
}

func TestCalendarSubscriptionSecretIsShownOnce(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("stakeholder")
	_, body := b.get("/calendars")
	if strings.Contains(body, "pbc_alreadyissuedsecret") {
		t.Fatal("the list shows an existing calendar's secret")
	}
	resp, body := b.post("/calendars", url.Values{"target": {"group:databases"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, "/calendar/pbc_secret2x7Kq.ics") || !strings.Contains(body, "shown only once") {
		t.Fatalf("create: %s\n%.800s", resp.Status, body)
	}
	if !strings.Contains(body, `value="http://`+strings.TrimPrefix(e.srv.URL, "http://")+`/calendar/pbc_secret2x7Kq.ics"`) {
		t.Error("the secret URL is not an absolute URL on the console's host")
	}
	_, body = b.get("/calendars")
	if strings.Contains(body, "pbc_secret2x7Kq") || !strings.Contains(body, "group databases") {
		t.Error("after creation, the list shows the secret or lacks the new calendar")
	}
	for _, target := range []string{"", "group:nope", "team:" + hostileGroup, "host:web"} {
		resp, body := b.post("/calendars", url.Values{"target": {target}})
		if resp.StatusCode != http.StatusBadRequest || !parseDOM(t, body).has("#form-errors") {
			t.Errorf("create for %q: %s, want 400 with the problem on the page", target, resp.Status)
		}
	}
	resp, _ = b.post("/calendars/cal1/revoke", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/calendars?done=revoke" {
		t.Fatalf("revoke: %s to %q", resp.Status, loc)
	}
	_, body = b.get("/calendars?done=revoke")
	if !strings.Contains(body, "revoked") || parseDOM(t, body).postsTo("/calendars/cal1/revoke") {
		t.Error("the revoked calendar still offers a revoke button or is not marked")
	}
	if e.fake.recorded("calendar.create") != 1 || e.fake.recorded("calendar.revoke") != 1 {
		t.Error("calendar actions were not audited")
	}
}

func TestExceptionsFilterAndWarnOfExpiry(t *testing.T) {
	b := newEnv(t).signedIn("stakeholder")
	_, body := b.get("/exceptions")
	expiring := body[strings.Index(body, `id="expiring"`):]
	expiring = expiring[:strings.Index(expiring, "</ul>")]
	if !strings.Contains(expiring, "CVE-2023-4911") || strings.Contains(expiring, "CVE-2024-3094") {
		t.Errorf("the expiring-soon list is wrong: %s", expiring)
	}
	_, body = b.get("/exceptions?state=expired")
	if !parseDOM(t, body).has("#exception-e3") || parseDOM(t, body).has("#exception-e1") {
		t.Error("the expired filter did not apply")
	}
	if resp, _ := b.get("/exceptions?state=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad state filter: %s, want 400", resp.Status)
	}
}

func TestExceptionButtonsFollowTheServerRules(t *testing.T) {
	e := newEnv(t)
	ap := e.signedIn("approver")
	_, body := ap.get("/exceptions")
	if !parseDOM(t, body).postsTo("/exceptions/e1/approve") {
		t.Error("the approver cannot approve the operator's request")
	}
	if parseDOM(t, body).postsTo("/exceptions/e5/approve") {
		t.Error("the approver is offered to approve their own request")
	}
	if parseDOM(t, body).postsTo("/exceptions/e2/approve") || parseDOM(t, body).postsTo("/exceptions/e3/revoke") {
		t.Error("buttons show for an active exception's approval or an expired one's revocation")
	}
	// The server's rule holds even when the button is not there.
	if resp, body := ap.post("/exceptions/e5/approve", nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another approver must approve") {
		t.Errorf("self-approval: %s, want 403 with the reason", resp.Status)
	}
	resp, _ := ap.post("/exceptions/e1/approve", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/exceptions?done=approve" {
		t.Fatalf("approve: %s to %q", resp.Status, loc)
	}
	_, body = ap.get("/exceptions?done=approve")
	if !strings.Contains(body, "Exception approved") || parseDOM(t, body).postsTo("/exceptions/e1/approve") {
		t.Error("after approval the page shows no notice or still the button")
	}
	if resp, body := ap.post("/exceptions/e1/approve", nil); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "not pending") {
		t.Errorf("approving twice: %s, want 409 with the reason", resp.Status)
	}
	op := e.signedIn("operator")
	_, body = op.get("/exceptions")
	if parseDOM(t, body).postsEndingIn("/approve") {
		t.Error("the operator, who may not approve, sees an approve button")
	}
	if !parseDOM(t, body).postsTo("/exceptions/e1/revoke") {
		t.Error("the operator cannot revoke")
	}
	if resp, _ := op.post("/exceptions/e1/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke: %s", resp.Status)
	}
	if e.fake.recorded("exception.approve") != 1 || e.fake.recorded("exception.revoke") != 1 {
		t.Error("exception actions were not audited")
	}
}

func TestExceptionFormShowsEveryProblemAndKeepsTheInput(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("operator")
	_, body := b.get("/exceptions/new?advisory=CVE-2024-3094&host=h2")
	if !parseDOM(t, body).has("[value=CVE-2024-3094]") || !parseDOM(t, body).has("input#scope-host[name=scope][value=host][checked]") {
		t.Error("the form does not take the advisory and host from the link")
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		wants []string
	}{
		{"empty", url.Values{}, []string{"Name the advisory", "Choose whether the exception covers", "Give the reason", "An expiry date is mandatory"}},
		{"past expiry", url.Values{"advisory": {"CVE-2024-3094"}, "scope": {"group"}, "group": {"databases"}, "justification": {"x"}, "expires": {"2026-11-01"}},
			[]string{"is not in the future"}},
		{"too far", url.Values{"advisory": {"CVE-2024-3094"}, "scope": {"group"}, "group": {"databases"}, "justification": {"x"}, "expires": {"2028-01-01"}},
			[]string{"at most 365 days"}},
		{"host without team", url.Values{"package": {"openssl"}, "scope": {"host"}, "host": {"web-01.example.net"}, "justification": {"kept <b>text</b>"}, "expires": {"2026-12-24"}},
			[]string{"Choose the team that owns the host", "kept &lt;b&gt;text&lt;/b&gt;", `value="web-01.example.net"`}},
		{"unknown group and bad advisory", url.Values{"advisory": {"CVE 1"}, "scope": {"group"}, "group": {"nope"}, "justification": {"x"}, "expires": {"soon"}},
			[]string{"is not an advisory ID", "Choose the group", "must be a date"}},
		{"unknown host (server says)", url.Values{"advisory": {"CVE-2024-3094"}, "scope": {"host"}, "host": {"nohost"}, "team": {"web team"}, "justification": {"x"}, "expires": {"2026-12-24"}},
			[]string{"is not a host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.post("/exceptions/new", tc.form)
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%s: %s, want 400 or 422", tc.name, resp.Status)
			}
			if !parseDOM(t, body).has("#form-errors") {
				t.Errorf("%s: no error list on the page", tc.name)
			}
			for _, want := range tc.wants {
				if !strings.Contains(body, want) {
					t.Errorf("%s: the page lacks %q", tc.name, want)
				}
			}
		})
	}
	resp, _ := b.post("/exceptions/new", url.Values{"advisory": {"CVE-2024-3094"}, "scope": {"group"}, "group": {"databases"},
		"justification": {"Not reachable from outside."}, "expires": {"2026-12-24"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/exceptions?done=request" {
		t.Fatalf("a valid request: %s to %q", resp.Status, loc)
	}
	ex, _ := e.fake.Exceptions(t.Context(), User{})
	if ex[0].Team != "data team" || ex[0].Group != "databases" || ex[0].ExpiresAt.Format("2006-01-02") != "2026-12-24" || ex[0].RequestedBy != "operator" {
		t.Errorf("the request stored %+v", ex[0])
	}
}

func TestKnowledgeBaseSearchDraftsAndForms(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("stakeholder")
	_, body := b.get("/kb?q=NGINX+brotli")
	if !parseDOM(t, body).linksTo("/kb/k1") || parseDOM(t, body).linksTo("/kb/k2") {
		t.Error("searching for nginx brotli does not find exactly k1")
	}
	_, body = b.get("/kb?status=draft")
	if !parseDOM(t, body).linksTo("/kb/k2") || parseDOM(t, body).linksTo("/kb/k1") || !strings.Contains(body, "1 draft to review") {
		t.Error("the draft filter did not apply")
	}
	_, body = b.get("/kb/k2")
	if !strings.Contains(body, "This entry is a draft") || !parseDOM(t, body).linksTo("/changes/c1") || !parseDOM(t, body).linksTo("/hosts/h2") {
		t.Error("the draft from a sign-off does not say so or lacks its links")
	}
	resp, body := b.post("/kb/new", url.Values{"title": {""}, "packages": {"ok-pkg 1.0\n-bad 2"}, "status": {"maybe"}})
	for _, want := range []string{"Give the entry a title", "Describe the problem", "Line 2 of the packages", "Choose draft or published", "-bad 2"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an invalid entry: %s, want 400", resp.Status)
	}
	resp, _ = b.post("/kb/new", url.Values{"title": {"cron stops"}, "problem": {"cron dies"}, "packages": {"cron 3.0pl1-162\n\nlibc6"},
		"changes": {"c1, c2"}, "status": {"published"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/kb/k3?done=save" {
		t.Fatalf("create: %s to %q", resp.Status, loc)
	}
	got, _ := e.fake.KBEntry(t.Context(), "k3")
	if len(got.Packages) != 2 || got.Packages[0].Versions[0] != "3.0pl1-162" || len(got.Changes) != 2 || got.CreatedBy != "stakeholder" {
		t.Errorf("stored %+v", got)
	}
	// Publishing the draft keeps its author.
	_, body = b.get("/kb/k2/edit")
	if !strings.Contains(body, "xz-utils 5.4.1-1") || !parseDOM(t, body).has("input#status-draft[name=status][value=draft][checked]") {
		t.Error("the edit form does not show the entry")
	}
	ap := e.signedIn("approver")
	ap.get("/kb/k2/edit")
	resp, _ = ap.post("/kb/k2/edit", url.Values{"title": {"xz update breaks reports"}, "problem": {"reports fail"}, "fix": {"restart"},
		"packages": {"xz-utils 5.4.1-1"}, "status": {"published"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %s", resp.Status)
	}
	got, _ = e.fake.KBEntry(t.Context(), "k2")
	if got.Status != "published" || got.CreatedBy != "stakeholder" || got.Fix != "restart" {
		t.Errorf("after edit: %+v", got)
	}
	if resp, _ := ap.post("/kb/nope/edit", url.Values{"title": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("editing a missing entry: %s, want 404", resp.Status)
	}
}

func TestAFindingLinksToAnExceptionRequestForItsAdvisoryAndHost(t *testing.T) {
	e := newEnv(t)
	op := e.signedIn("operator")
	_, body := op.get("/vulns")
	link := `href="/exceptions/new?advisory=CVE-2024-3094&amp;package=acl&amp;host=h2"`
	if !strings.Contains(body, link) {
		t.Fatalf("the finding does not link to an exception request (%s)", link)
	}
	_, body = op.get("/exceptions/new?advisory=CVE-2024-3094&package=acl&host=h2")
	for _, want := range []string{`value="CVE-2024-3094"`, `value="acl"`, `id="host" name="host" maxlength="200" value="h2"`, `value="host" checked`} {
		if !strings.Contains(body, want) {
			t.Errorf("the prefilled form lacks %s", want)
		}
	}
	// The hostile finding's link stays inside its attribute.
	_, body = op.get("/vulns")
	if strings.Contains(body, `host=h3"><`) || !strings.Contains(body, `package=musl&amp;host=h3"`) {
		t.Error("the hostile finding's exception link is not escaped")
	}
	au := e.signedIn("auditor")
	if resp, body := au.get("/vulns"); resp.StatusCode != 200 || parseDOM(t, body).linksEndingIn("/exceptions/new") {
		t.Errorf("the auditor, who may not request exceptions, gets %s with a request link", resp.Status)
	}
}
