package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
)

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	anon := e.browser()
	for _, tc := range []struct {
		name string
		b    *browser
		path string
	}{
		{"sign-in page", anon, "/login"},
		{"redirect to sign-in", anon, "/hosts"},
		{"stylesheet", anon, "/static/app.css"},
		{"script", anon, "/static/app.js"},
		{"dashboard", b, "/"},
		{"host page", b, "/hosts/h3"},
		{"status JSON", b, "/changes/c1/status.json"},
		{"missing page", b, "/no/such/page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := tc.b.get(tc.path)
			for k, want := range securityHeaders {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %s = %q, want %q", tc.path, k, got, want)
				}
			}
		})
	}
	resp, _ := b.get("/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q is not strict", csp)
	}
}

func TestSessionCookieIsHttpOnlySecureStrictAndRandom(t *testing.T) {
	clk := newClock()
	h := New(newFakeBackend(t, clk.Now), Options{Secure: true, Now: clk.Now})
	// The sign-in form sets only the signed CSRF cookie, no session.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://console.example/login", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != loginCookie {
		t.Fatalf("cookies = %v, want one %s", cookies, loginCookie)
	}
	check := func(c *http.Cookie, path string) {
		t.Helper()
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != path {
			t.Errorf("cookie %q: HttpOnly=%v Secure=%v SameSite=%v Path=%q", c.Raw, c.HttpOnly, c.Secure, c.SameSite, c.Path)
		}
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil || len(raw) != 32 {
			t.Errorf("%s %q is not 256 bits of base64url (%v)", c.Name, c.Value, err)
		}
	}
	check(cookies[0], "/login")
	csrf := csrfRE.FindStringSubmatch(rec.Body.String())
	if csrf == nil {
		t.Fatal("no CSRF token in the form")
	}
	signIn := func() *http.Cookie {
		t.Helper()
		req := httptest.NewRequest("POST", "https://console.example/login", strings.NewReader(url.Values{
			"csrf": {csrf[1]}, "username": {"admin"}, "password": {fakePassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			if c.Name == sessionCookie {
				return c
			}
		}
		t.Fatalf("sign-in answered %d without a session cookie", rec.Code)
		return nil
	}
	first := signIn()
	check(first, "/")
	if second := signIn(); second.Value == first.Value {
		t.Error("two sessions got the same ID")
	}
}

func TestSignInRotatesTheSessionID(t *testing.T) {
	e := newEnv(t)
	// An attacker plants a session ID before the victim signs in.
	const planted = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	b := e.browserWithSession(planted)
	b.get("/login")
	b.post("/login", url.Values{"username": {"admin"}, "password": {fakePassword}})
	after := b.sessionCookie()
	if after == "" || after == planted {
		t.Fatalf("session ID after sign-in %q: want a new one", after)
	}
	e.refusesSession(planted, "the planted session ID")
	if e.fake.recorded("login.success") != 1 {
		t.Error("sign-in was not recorded in the audit log")
	}
}

// TestVisitorsWhoDoNotSignInKeepNothingOnTheServer: ~100k GET /login
// filled the session store, and every new visitor then got 503.
func TestVisitorsWhoDoNotSignInKeepNothingOnTheServer(t *testing.T) {
	e := newEnv(t)
	h := New(e.fake, Options{Now: e.clock.Now})
	for i := range maxSessions + 1 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("visitor %d: GET /login answered %d", i+1, rec.Code)
		}
	}
	if n := h.(*console).sessions.len(); n != 0 {
		t.Errorf("%d sessions kept for visitors who did not sign in, want 0", n)
	}
	// A forged form value or a cookie from elsewhere does not pass.
	b := e.browser()
	b.get("/login")
	good := b.csrf
	b.csrf = "forged"
	if resp, _ := b.post("/login", url.Values{"username": {"admin"}, "password": {fakePassword}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with a forged CSRF value: %s, want 403", resp.Status)
	}
	other := e.browser()
	other.get("/login")
	other.csrf = good // the value of another visitor's cookie
	if resp, _ := other.post("/login", url.Values{"username": {"admin"}, "password": {fakePassword}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with another visitor's CSRF value: %s, want 403", resp.Status)
	}
	b.csrf = good
	if resp, _ := b.post("/login", url.Values{"username": {"admin"}, "password": {fakePassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in after the flood: %s, want 303", resp.Status)
	}
}

func TestEveryPostRefusesAMissingOrWrongCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	var c console
	for _, rt := range c.routes() {
		if rt.method != "POST" {
			continue
		}
		path := strings.Replace(rt.pattern, "{id}", "c1", 1)
		for _, tc := range []struct {
			name   string
			form   url.Values
			origin string
		}{
			{"no token", url.Values{"csrf": {""}}, e.srv.URL},
			{"wrong token", url.Values{"csrf": {b.csrf + "x"}}, e.srv.URL},
			{"right token from another site", url.Values{}, "https://evil.example"},
			{"right token from an opaque origin", url.Values{}, "null"},
		} {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				form := url.Values{"username": {"admin"}, "password": {fakePassword}}
				for k, v := range tc.form {
					form[k] = v
				}
				if _, ok := form["csrf"]; !ok {
					form.Set("csrf", b.csrf)
				}
				req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", tc.origin)
				resp, _ := b.do(req)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s with %s: %s, want 403", path, tc.name, resp.Status)
				}
			})
		}
	}
	if ch, _ := e.fake.Change(t.Context(), "c1"); ch.State != "pending_approval" {
		t.Errorf("a refused POST changed the change: state %s", ch.State)
	}
	// A cross-site Referer (no Origin) is refused too.
	req, _ := http.NewRequest("POST", e.srv.URL+"/changes/c1/approve", strings.NewReader(url.Values{"csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", "https://evil.example/page")
	if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a cross-site Referer: %s, want 403", resp.Status)
	}
	// And the right token from this site works.
	if resp, body := b.post("/changes/c1/approve", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST with the right token: %s\n%s", resp.Status, body)
	}
}

func TestSessionsExpire(t *testing.T) {
	t.Run("after 30 minutes idle", func(t *testing.T) {
		e := newEnv(t)
		b := e.signedIn("admin")
		e.clock.Advance(29 * time.Minute)
		if resp, _ := b.get("/hosts"); resp.StatusCode != 200 {
			t.Fatalf("after 29 idle minutes: %s, want 200", resp.Status)
		}
		e.clock.Advance(30 * time.Minute)
		resp, _ := b.get("/hosts")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("after 30 idle minutes: %s to %q, want a redirect to /login", resp.Status, resp.Header.Get("Location"))
		}
	})
	t.Run("after 12 hours however busy", func(t *testing.T) {
		e := newEnv(t)
		b := e.signedIn("admin")
		for elapsed := time.Duration(0); elapsed < 12*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
			e.clock.Advance(20 * time.Minute)
			if resp, _ := b.get("/hosts"); resp.StatusCode != 200 {
				t.Fatalf("after %v of use: %s, want 200", elapsed+20*time.Minute, resp.Status)
			}
		}
		e.clock.Advance(20 * time.Minute)
		if resp, _ := b.get("/hosts"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("after 12 hours: %s, want a redirect to sign in", resp.Status)
		}
	})
}

func TestSignOutDeletesTheSessionOnTheServer(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	id := b.sessionCookie()
	if resp, _ := b.post("/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout: %s", resp.Status)
	}
	e.refusesSession(id, "the signed-out session ID")
	if e.fake.recorded("logout") != 1 {
		t.Error("sign-out was not recorded")
	}
}

func TestARoleWithoutThePermissionGets403(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	// A stakeholder reads hosts, vulnerabilities and changes and signs
	// them off; the audit trail, drafting and approving are not theirs.
	b.signIn(policy.RoleStakeholder)
	for _, path := range []string{"/audit", "/changes/new"} {
		if resp, body := b.get(path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("stakeholder GET %s: %s, want 403", path, resp.Status)
		} else if !strings.Contains(parseDOM(t, body).text("main"), "needs the permission") {
			t.Errorf("stakeholder GET %s: the 403 page does not say which permission is missing", path)
		}
	}
	for _, path := range []string{"/changes/c1/approve", "/changes/c1/start", "/changes/new"} {
		if resp, _ := b.post(path, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("stakeholder POST %s: %s, want 403", path, resp.Status)
		}
	}
	_, body := b.get("/")
	if d := parseDOM(t, body); d.linksTo("/audit") || !d.linksTo("/vulns") || !d.linksTo("/changes") {
		t.Error("the stakeholder's navigation links to the audit trail, or lacks the pages the role may open")
	}
	if resp, _ := b.get("/hosts/h1"); resp.StatusCode != 200 {
		t.Errorf("stakeholder GET /hosts/h1: %s, want 200", resp.Status)
	}
}

func TestEveryPageNeedsASignIn(t *testing.T) {
	e := newEnv(t)
	anon := e.browser()
	var c console
	for _, rt := range c.routes() {
		if rt.perm == permPublic {
			continue
		}
		path := strings.Replace(strings.Replace(rt.pattern, "{id}", "c1", 1), "{$}", "", 1)
		var resp *http.Response
		if rt.method == "GET" {
			resp, _ = anon.get(path)
		} else {
			resp, _ = anon.post(path, nil)
		}
		switch {
		case rt.method == "GET" && !rt.json:
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
				t.Errorf("anonymous GET %s: %s, want a redirect to sign in", path, resp.Status)
			}
		case resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden:
			t.Errorf("anonymous %s %s: %s, want 401 or 403", rt.method, path, resp.Status)
		}
	}
}

func TestAgentReportedTextRendersInert(t *testing.T) {
	b := newEnv(t).signedIn("admin")
	for _, path := range []string{"/", "/hosts", "/hosts?q=script", "/hosts/h3", "/vulns", "/changes", "/changes/c1"} {
		t.Run(path, func(t *testing.T) {
			resp, body := b.get(path)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %s", path, resp.Status)
			}
			for _, raw := range []string{"<script>alert", "<img src=x", "<b>bold", `'!A0`, `href="javascript:`} {
				if strings.Contains(body, raw) {
					t.Errorf("GET %s contains the raw %q", path, raw)
				}
			}
			if path != "/changes" && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("GET %s does not show the hostile hostname as text", path)
			}
			if len(parseDOM(t, body).all("script")) != 1 {
				t.Errorf("GET %s has %d script elements, want only the app's", path, len(parseDOM(t, body).all("script")))
			}
		})
	}
	_, body := b.get("/hosts/h3")
	if !strings.Contains(body, "=cmd|&#39; /C calc&#39;!A0") {
		t.Error("the CSV-formula package version is not shown escaped")
	}
	resp, body := b.get("/changes/c1/status.json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("status.json Content-Type %q", ct)
	}
	if strings.Contains(body, "<script>") {
		t.Error("status.json carries a raw <script>")
	}
	var st changeStatusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Hosts) != 3 || st.Hosts[1].Detail != csvFormula {
		t.Errorf("status.json = %s (%v)", body, err)
	}
}

func TestChangePageShowsOnlyTheActionsTheUserMayUse(t *testing.T) {
	e := newEnv(t)
	op := e.signedIn("operator")
	_, body := op.get("/changes/c1")
	if parseDOM(t, body).postsTo("/changes/c1/approve") {
		t.Error("the operator sees an approve button")
	}
	ap := e.signedIn("approver")
	_, body = ap.get("/changes/c1")
	if !parseDOM(t, body).postsTo("/changes/c1/approve") || !parseDOM(t, body).postsTo("/changes/c1/reject") {
		t.Fatal("the approver sees no approve and reject buttons")
	}
	if parseDOM(t, body).postsTo("/changes/c1/start") {
		t.Error("a start button is shown before approval")
	}
	resp, _ := ap.post("/changes/c1/approve", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/changes/c1?done=approve" {
		t.Fatalf("approve: %s to %q", resp.Status, loc)
	}
	_, body = ap.get("/changes/c1?done=approve")
	if !strings.Contains(body, "Approved.") || !strings.Contains(body, ">approved<") {
		t.Error("the change page does not show the approval")
	}
	if resp, body := ap.post("/changes/c1/approve", nil); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "cannot be") {
		t.Errorf("approving twice: %s, want 409 with the reason", resp.Status)
	}
	_, body = op.get("/changes/c1")
	if !parseDOM(t, body).postsTo("/changes/c1/start") {
		t.Error("the operator sees no start button on an approved change")
	}
}

func TestChangePageSaysWhatTheChangeWaitsForAndOffersCancel(t *testing.T) {
	e := newEnv(t)
	e.fake.mu.Lock()
	c := &e.fake.changes[0]
	c.Waiting, c.Waves = "an approval by an approver of team db", 2
	c.Actions = append(c.Actions, "cancel")
	e.fake.mu.Unlock()
	op := e.signedIn("operator")
	_, body := op.get("/changes/c1")
	d := parseDOM(t, body)
	if got := d.text("#change-waiting"); got != "an approval by an approver of team db" {
		t.Errorf("#change-waiting reads %q", got)
	}
	if got := d.text("#change-waves"); got != "2" || !d.postsTo("/changes/c1/cancel") {
		t.Errorf("#change-waves reads %q, or the operator has no cancel button", got)
	}
	ap := e.signedIn("approver")
	if _, body := ap.get("/changes/c1"); parseDOM(t, body).postsTo("/changes/c1/cancel") {
		t.Error("the approver, who may not create changes, sees a cancel button")
	}
	resp, _ := op.post("/changes/c1/cancel", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/changes/c1?done=cancel" {
		t.Fatalf("cancel: %s to %q", resp.Status, loc)
	}
	if _, body := op.get("/changes/c1?done=cancel"); !strings.Contains(body, "Cancelled.") || !parseDOM(t, body).has("[data-state=cancelled]") {
		t.Error("the change page does not show the cancellation")
	}
}

func TestChangePageLinksTheChangesIssue(t *testing.T) {
	e := newEnv(t)
	op := e.signedIn("operator")
	if _, body := op.get("/changes/c1"); parseDOM(t, body).has("#change-ticket") {
		t.Error("a change without an issue shows one")
	}
	e.fake.mu.Lock()
	e.fake.changes[0].Ticket = &ChangeTicket{Tracker: "Jira", Key: "OPS-7", URL: "https://example.atlassian.net/browse/OPS-7"}
	e.fake.mu.Unlock()
	_, body := op.get("/changes/c1")
	d := parseDOM(t, body)
	if got := d.text("#change-ticket"); got != "OPS-7 (Jira)" || !d.linksTo("https://example.atlassian.net/browse/OPS-7") {
		t.Errorf("#change-ticket reads %q, or does not link the issue", got)
	}
}

func TestListsFilterAndPage(t *testing.T) {
	b := newEnv(t).signedIn("admin")
	_, body := b.get("/hosts?q=web")
	if !strings.Contains(body, "web-01.example.net") || strings.Contains(body, "db-01.example.net") {
		t.Error("searching hosts for web did not narrow the list")
	}
	_, body = b.get("/hosts?limit=1")
	if !parseDOM(t, body).has("[rel=next]") || !strings.Contains(body, "3 hosts") {
		t.Error("a one-host page has no next link or wrong total")
	}
	_, body = b.get("/hosts?stale=yes")
	if !strings.Contains(body, "1 host match") {
		t.Error("the stale filter did not apply")
	}
	_, body = b.get("/vulns?kev=yes")
	if !strings.Contains(body, "CVE-2024-3094") || strings.Contains(body, "CVE-2023-4911") {
		t.Error("the KEV filter did not apply")
	}
	for _, path := range []string{"/hosts?limit=0", "/hosts?stale=maybe", "/vulns?severity=bad", "/audit?from=-1"} {
		if resp, _ := b.get(path); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", path, resp.Status)
		}
	}
	if resp, _ := b.get("/hosts/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing host: %s, want 404", resp.Status)
	}
	_, body = b.get("/audit")
	if !strings.Contains(body, "login.success") {
		t.Error("the audit page does not show the sign-in")
	}
}

func TestSignInGoesBackOnlyToLocalPages(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"/hosts?q=a", "/hosts?q=a"},
		{"", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

func TestAUserTheBackendNoLongerKnowsIsSignedOut(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("operator")
	e.fake.mu.Lock()
	delete(e.fake.users, "operator")
	e.fake.mu.Unlock()
	if resp, _ := b.get("/hosts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a deleted user's session still opens /hosts: %s", resp.Status)
	}
}

func TestTheSessionStoreIsBounded(t *testing.T) {
	clk := newClock()
	s := newSessionStore(clk.Now)
	for range maxSessions {
		if _, _, err := s.create(""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.create(""); err == nil {
		t.Fatal("the store took a session past its bound")
	}
	clk.Advance(sessionIdle)
	if _, _, err := s.create("u1"); err != nil {
		t.Fatalf("expired sessions were not pruned to make room: %v", err)
	}
	if n := s.len(); n != 1 {
		t.Errorf("%d sessions after pruning, want 1", n)
	}
}

// The approver reviews the plan on the change page: rings, batch, budget,
// soak, windows, what each host installs and whether it reboots, and the
// knowledge base's known problems with those packages, all as text.
func TestTheChangePageShowsThePlan(t *testing.T) {
	ap := newEnv(t).signedIn("approver")
	_, body := ap.get("/changes/c1")
	d := parseDOM(t, body)
	for sel, want := range map[string]string{"#plan-batch": "1 host", "#plan-budget": "0 hosts (the rollout halts beyond it)",
		"#plan-soak": "30m", `a[href="/kb/k1"]`: "xz: <script>alert(1)</script>"} {
		if got := d.text(sel); got != want {
			t.Errorf("%s reads %q, want %q", sel, got, want)
		}
	}
	if !d.hasText(".after", "reboot") {
		t.Error("the plan does not say the host reboots after the install")
	}
	for _, want := range []string{"pilot → production", "databases: ", "xz-utils 5.4.1-0.2, liblzma5 5.4.1-0.2", "replication lag "} {
		if !strings.Contains(d.text("main"), want) {
			t.Errorf("the change page lacks %q", want)
		}
	}
	if d.scriptsContaining("alert") != 0 {
		t.Error("agent or user text in the plan is not escaped")
	}
	_, list := ap.get("/changes")
	if !parseDOM(t, list).hasText("td.num", "3") {
		t.Error("the change list does not count the change's 3 hosts")
	}
}

// TestTheChangePageShowsEveryHostThePlanConsidered: the plan section lists
// each host the plan considered by hostname, with ring and reboot tier by
// name, whether it is planned and, if not, why, all as text.
func TestTheChangePageShowsEveryHostThePlanConsidered(t *testing.T) {
	ap := newEnv(t).signedIn("approver")
	_, body := ap.get("/changes/c1")
	for _, want := range []string{
		`<table id="plan-hosts" aria-labelledby="plan-hosts-h">`,
		`<tr data-plan-host="h2"><th scope="row"><a href="/hosts/h2">db-01.example.net</a></th><td>databases</td><td>production</td><td>replicas</td>` +
			`<td class="targets">xz-utils 5.4.1-0.2, liblzma5 5.4.1-0.2</td><td class="plan-status"><span class="tag st-ok">planned</span></td><td class="why"></td></tr>`,
		`<tr data-plan-host="h4"><th scope="row"><a href="/hosts/h4">db-02.example.net</a></th><td>databases</td><td>production</td><td>—</td>` +
			`<td class="targets">xz-utils 5.4.1-0.2</td><td class="plan-status"><span class="tag st-bad">downgrade-refused</span></td>` +
			`<td class="why">xz-utils 5.4.1-0.2 is lower than the installed 5.6.1-1; a downgrade needs allow-downgrade</td></tr>`,
		`<span class="tag st-bad">excluded</span></td><td class="why">package architecture &#34;amd64 --force-all&#34; of xz-utils is not a known architecture &lt;script&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the change page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("agent text in the plan review is not escaped")
	}
	// app.js updates the first row carrying data-host-id: that must stay
	// the host's progress row in its ring, not its plan row.
	if i, j := strings.Index(body, `data-host-id="h2"`), strings.Index(body, `id="ring-1"`); i < j {
		t.Error("a row before the ring tables carries data-host-id, so the live status would update it instead")
	}
}
