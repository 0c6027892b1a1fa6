package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// settingsPosts are the settings actions and a form for each.
var settingsPosts = []struct {
	path string
	form url.Values
}{
	{"/settings/users", url.Values{"username": {"mallory"}, "role": {"admin"}}},
	{"/settings/users/u1/role", url.Values{"role": {"auditor"}}},
	{"/settings/users/u1/disable", nil},
	{"/settings/tokens", url.Values{"name": {"backdoor"}, "role": {"admin"}}},
	{"/settings/tokens/t1/revoke", nil},
	{"/settings/enroll-tokens", url.Values{"max_hosts": {"5"}}},
	{"/settings/enroll-tokens/e1/revoke", nil},
}

func TestSettingsActionsAreForAdminsOnly(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		role       string
		syncsFeeds bool // security manages the feeds; the other roles do not
	}{{"operator", false}, {"approver", false}, {"auditor", false}, {"stakeholder", false}, {"security", true}} {
		t.Run(tc.role, func(t *testing.T) {
			b := e.signedIn(tc.role)
			resp, body := b.get("/settings")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /settings: %s", resp.Status)
			}
			d := parseDOM(t, body)
			for _, id := range []string{"#users", "#user-form", "#token-form", "#enroll-form", "#integrations-h"} {
				if d.has(id) {
					t.Errorf("the %s sees the admin section %s", tc.role, id)
				}
			}
			if d.has("#sync-feeds") != tc.syncsFeeds {
				t.Errorf("the %s is offered a feed sync: %v, want %v", tc.role, !tc.syncsFeeds, tc.syncsFeeds)
			}
			if !d.postsTo("/settings/password") {
				t.Errorf("the %s cannot change their password", tc.role)
			}
			for _, p := range settingsPosts {
				if resp, _ := b.post(p.path, p.form); resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s POST %s: %s, want 403", tc.role, p.path, resp.Status)
				}
			}
			if resp, _ := b.post("/settings/feeds/sync", nil); (resp.StatusCode == http.StatusForbidden) == tc.syncsFeeds {
				t.Errorf("%s POST /settings/feeds/sync: %s", tc.role, resp.Status)
			}
		})
	}
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	if _, ok := e.fake.users["mallory"]; ok || len(e.fake.admin.apiTokens) > 0 || len(e.fake.admin.enroll) > 0 || e.fake.admin.syncs != 1 {
		t.Errorf("a refused settings action changed something, or the security user's feed sync did not run (%d syncs)", e.fake.admin.syncs)
	}
}

func TestTheCSRFWalkCoversEverySettingsAction(t *testing.T) {
	var c console
	var posts []string
	for _, rt := range c.routes() {
		if rt.method == "POST" {
			posts = append(posts, rt.pattern)
		}
	}
	// TestEveryPostRefusesAMissingOrWrongCSRFToken walks c.routes().
	for _, p := range append([]string{"/settings/password", "/settings/feeds/sync"}, func() []string {
		var out []string
		for _, sp := range settingsPosts {
			out = append(out, strings.NewReplacer("u1", "{id}", "t1", "{id}", "e1", "{id}").Replace(sp.path))
		}
		return out
	}()...) {
		if !slices.Contains(posts, p) {
			t.Errorf("POST %s is not in the route table the CSRF test walks", p)
		}
	}
}

func TestSecretsAreShownOnceAndNeverListed(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	b.get("/settings")
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"API token", "/settings/tokens", url.Values{"name": {"ci deploy"}, "role": {"operator"}, "expires_days": {"30"}}},
		{"enrollment token", "/settings/enroll-tokens", url.Values{"max_hosts": {"10"}, "expires_hours": {"48"}, "labels": {"env=prod, site=fra1"}}},
		{"generated password", "/settings/users", url.Values{"username": {"dora"}, "role": {"operator"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fake.mu.Lock()
			before := len(e.fake.admin.secrets)
			e.fake.mu.Unlock()
			resp, body := b.post(tc.path, tc.form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST %s: %s\n%s", tc.path, resp.Status, body)
			}
			e.fake.mu.Lock()
			secrets := slices.Clone(e.fake.admin.secrets[before:])
			e.fake.mu.Unlock()
			if len(secrets) != 1 {
				t.Fatalf("%d secrets handed out, want 1", len(secrets))
			}
			if parseDOM(t, body).text("code#secret-value") != secrets[0] || !strings.Contains(body, "shown this once only") {
				t.Errorf("the creating response does not show the secret once")
			}
			for _, path := range []string{"/settings", "/settings?done=token-created", "/audit"} {
				if _, body := b.get(path); strings.Contains(body, secrets[0]) {
					t.Errorf("GET %s shows the %s's secret again", path, tc.name)
				}
			}
		})
	}
	_, body := b.get("/settings")
	if !strings.Contains(body, "ci deploy") || !strings.Contains(body, "env=prod, site=fra1") || !strings.Contains(body, "dora") {
		t.Error("the settings page does not list what was created")
	}
	// A password the admin typed is not echoed back.
	resp, body := b.post("/settings/users", url.Values{"username": {"erin"}, "role": {"auditor"}, "password": {"a typed initial password"}})
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "a typed initial password") || parseDOM(t, body).has("#secret") {
		t.Errorf("creating a user with a typed password: %s, echoes it or shows a secret box", resp.Status)
	}
}

func TestPasswordChangeSignsOutTheOtherSessions(t *testing.T) {
	e := newEnv(t)
	here, there := e.browser(), e.browser()
	here.signIn("operator")
	there.signIn("operator")
	oldID := here.sessionCookie()
	here.get("/settings")
	const next = "a much longer new passphrase"
	resp, body := here.post("/settings/password", url.Values{"current": {fakePassword}, "new": {next}, "confirm": {next}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings?done=password" {
		t.Fatalf("change password: %s to %q\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
	if id := here.sessionCookie(); id == "" || id == oldID {
		t.Error("the session that changed the password kept its ID")
	}
	if resp, body := here.get("/settings?done=password"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "other sessions have been signed out") {
		t.Errorf("the changing session was signed out too: %s", resp.Status)
	}
	if resp, _ := there.get("/hosts"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the other session still opens /hosts after the password change: %s", resp.Status)
	}
	// The old session ID is worthless too.
	e.refusesSession(oldID, "the pre-change session ID")
	again := e.browser()
	again.get("/login")
	if resp, _ := again.post("/login", url.Values{"username": {"operator"}, "password": {fakePassword}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password still signs in: %s", resp.Status)
	}
	if resp, _ := again.post("/login", url.Values{"username": {"operator"}, "password": {next}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the new password does not sign in: %s", resp.Status)
	}
}

func TestPasswordChangeRefusesMistakes(t *testing.T) {
	b := newEnv(t).signedIn("approver")
	b.get("/settings")
	for _, tc := range []struct {
		name                string
		current, next, conf string
		status              int
		says                string
	}{
		{"a wrong current password", "guess", "a long enough password", "a long enough password", http.StatusForbidden, "current password is wrong"},
		{"a confirmation that differs", fakePassword, "a long enough password", "a long enough passw0rd", http.StatusBadRequest, "differ"},
		{"a short password", fakePassword, "short", "short", http.StatusBadRequest, "at least 12"},
	} {
		resp, body := b.post("/settings/password", url.Values{"current": {tc.current}, "new": {tc.next}, "confirm": {tc.conf}})
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %s, want %d saying %q", tc.name, resp.Status, tc.status, tc.says)
		}
	}
	if resp, _ := b.get("/hosts"); resp.StatusCode != http.StatusOK {
		t.Errorf("a refused change signed the user out: %s", resp.Status)
	}
}

func TestAnAdminCannotRemoveTheirOwnAdmin(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	_, body := b.get("/settings")
	if parseDOM(t, body).postsTo("/settings/users/u1/role") || parseDOM(t, body).postsTo("/settings/users/u1/disable") {
		t.Error("the admin is offered to change their own role or disable themselves")
	}
	if !parseDOM(t, body).postsTo("/settings/users/u3/role") {
		t.Error("the admin is not offered to change the operator's role")
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{{"/settings/users/u1/role", url.Values{"role": {"auditor"}}}, {"/settings/users/u1/disable", nil}} {
		resp, body := b.post(p.path, p.form)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "ask another admin") {
			t.Errorf("POST %s on oneself: %s, want 409 saying why", p.path, resp.Status)
		}
	}
	if resp, _ := b.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin lost access: %s", resp.Status)
	}
	// Another user's role changes at once, and a disabled user is signed out.
	op := e.signedIn("operator")
	if resp, _ := b.post("/settings/users/u3/role", url.Values{"role": {"auditor"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change the operator's role: %s", resp.Status)
	}
	if resp, _ := op.get("/changes/new"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the operator demoted to auditor still drafts changes: %s", resp.Status)
	}
	if resp, _ := b.post("/settings/users/u3/disable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable the operator: %s", resp.Status)
	}
	if resp, _ := op.get("/hosts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the disabled user is still signed in: %s", resp.Status)
	}
	if _, body := b.get("/settings"); !strings.Contains(body, "disabled") {
		t.Error("the user list does not show the disabled user")
	}
}

func TestSettingsFormsRefuseBadInput(t *testing.T) {
	b := newEnv(t).signedIn("admin")
	b.get("/settings")
	for _, tc := range []struct {
		path string
		form url.Values
		says string
	}{
		{"/settings/users", url.Values{"username": {""}, "role": {"auditor"}}, "username"},
		{"/settings/users", url.Values{"username": {"x"}, "role": {"god"}}, "role"},
		{"/settings/users/u3/role", url.Values{"role": {"god"}}, "role"},
		{"/settings/tokens", url.Values{"name": {"x"}, "role": {"auditor"}, "expires_days": {"-1"}}, "lifetime"},
		{"/settings/enroll-tokens", url.Values{"max_hosts": {"many"}}, "host limit"},
		{"/settings/enroll-tokens", url.Values{"labels": {"no-equals-sign"}}, "key=value"},
		{"/settings/enroll-tokens", url.Values{"expires_hours": {"0"}}, "lifetime"},
	} {
		resp, body := b.post(tc.path, tc.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.says) {
			t.Errorf("POST %s %v: %s, want 400 mentioning %q", tc.path, tc.form, resp.Status, tc.says)
		}
	}
	if resp, body := b.post("/settings/users", url.Values{"username": {"admin"}, "role": {"auditor"}}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "taken") {
		t.Errorf("creating a taken username: %s, want 409", resp.Status)
	}
}

func TestFeedsAndIntegrationsShowStatusWithoutSecrets(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("admin")
	_, body := b.get("/settings")
	for _, want := range []string{"osv-debian", "41230", "failing", "503 Service Unavailable", "https://hooks.example.net", "&lt;script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("the settings page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("a feed rejection's text is rendered as markup")
	}
	if resp, _ := b.post("/settings/feeds/sync", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sync now: %s", resp.Status)
	}
	if _, body := b.get("/settings?done=sync"); !strings.Contains(body, "Feeds synchronised.") {
		t.Error("no confirmation after sync")
	}
	if e.fake.recorded("feeds.sync") != 1 {
		t.Error("the sync was not audited")
	}
}
