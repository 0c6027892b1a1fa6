package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/web"
)

// consoleAs creates a user with role and returns the console backend and
// that user as the console sees them after signing in.
func consoleAs(t *testing.T, ts *testServer, username, role string) (consoleBackend, web.User, string) {
	t.Helper()
	b := consoleBackend{ts.Server}
	u, pw, err := ts.createUser(context.Background(), username, role, "", "")
	if err != nil {
		t.Fatal(err)
	}
	wu, err := b.Authenticate(context.Background(), u.Username, pw)
	if err != nil {
		t.Fatal(err)
	}
	return b, wu, pw
}

// auditText is the whole audit trail as text.
func auditText(t *testing.T, b consoleBackend) string {
	t.Helper()
	es, err := b.Audit(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, e := range es {
		sb.WriteString(e.Actor + " " + e.Action + " " + e.Target + " " + e.Detail + "\n")
	}
	return sb.String()
}

func TestConsolePasswordChangeEndsOlderSessions(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	b, u, pw := consoleAs(t, ts, "olga", RoleOperator)
	if err := b.ChangePassword(ctx, u, "not it", "a brand new passphrase"); !errors.Is(err, web.ErrBadLogin) {
		t.Fatalf("a wrong current password: %v, want ErrBadLogin", err)
	}
	var fe *web.FormError
	if err := b.ChangePassword(ctx, u, pw, "short"); !errors.As(err, &fe) {
		t.Fatalf("a short password: %v, want a FormError", err)
	}
	if again, _ := b.UserByID(ctx, u.ID); again.Epoch != u.Epoch {
		t.Fatal("a refused change moved the epoch")
	}
	const next = "a brand new passphrase"
	if err := b.ChangePassword(ctx, u, pw, next); err != nil {
		t.Fatal(err)
	}
	after, err := b.UserByID(ctx, u.ID)
	if err != nil || after.Epoch == u.Epoch || after.Epoch == "" {
		t.Fatalf("epoch before %q, after %q (%v): sessions from before the change would survive", u.Epoch, after.Epoch, err)
	}
	if _, err := b.Authenticate(ctx, "olga", pw); !errors.Is(err, web.ErrBadLogin) {
		t.Errorf("the old password still signs in: %v", err)
	}
	if nu, err := b.Authenticate(ctx, "olga", next); err != nil || nu.Epoch != after.Epoch {
		t.Errorf("the new password: %v, epoch %q want %q", err, nu.Epoch, after.Epoch)
	}
	log := auditText(t, b)
	if !strings.Contains(log, "olga console user.password user olga ok") {
		t.Errorf("the change is not audited:\n%s", log)
	}
	if strings.Contains(log, next) || strings.Contains(log, pw) {
		t.Error("a password reached the audit trail")
	}
}

func TestConsoleUserRulesMatchTheAPIs(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	b, admin, _ := consoleAs(t, ts, "ada", RoleAdmin)
	_, op, _ := consoleAs(t, ts, "otto", RoleOperator)

	if _, _, err := b.CreateUser(ctx, op, "eve", RoleAdmin, ""); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an operator creating a user: %v, want ErrForbidden", err)
	}
	if err := b.SetUserRole(ctx, op, op.ID, RoleAdmin); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an operator making themselves admin: %v, want ErrForbidden", err)
	}
	if err := b.SetUserRole(ctx, admin, admin.ID, RoleAuditor); !errors.Is(err, web.ErrConflict) {
		t.Errorf("an admin removing their own admin: %v, want ErrConflict", err)
	}
	if err := b.DisableUser(ctx, admin, admin.ID); !errors.Is(err, web.ErrConflict) {
		t.Errorf("an admin disabling themselves: %v, want ErrConflict", err)
	}
	if self, _ := b.UserByID(ctx, admin.ID); self.Role != RoleAdmin {
		t.Fatalf("the admin is now %q", self.Role)
	}
	var fe *web.FormError
	if _, _, err := b.CreateUser(ctx, admin, "Bad Name", RoleAuditor, ""); !errors.As(err, &fe) {
		t.Errorf("an invalid username: %v, want a FormError", err)
	}
	if _, _, err := b.CreateUser(ctx, admin, "otto", RoleAuditor, ""); !errors.Is(err, web.ErrConflict) {
		t.Errorf("a taken username: %v, want ErrConflict", err)
	}
	created, initial, err := b.CreateUser(ctx, admin, "typed", RoleAuditor, "an initial passphrase")
	if err != nil || initial != "an initial passphrase" || created.Role != RoleAuditor {
		t.Fatalf("create with a typed password: %+v %q %v", created, initial, err)
	}
	if _, err := b.Authenticate(ctx, "typed", "an initial passphrase"); err != nil {
		t.Errorf("the typed initial password does not sign in: %v", err)
	}

	if err := b.SetUserRole(ctx, admin, op.ID, RoleApprover); err != nil {
		t.Fatal(err)
	}
	if now, _ := b.UserByID(ctx, op.ID); now.Role != RoleApprover || !b.Allowed(now, "changes:approve") {
		t.Errorf("the role change did not apply at once: %+v", now)
	}
	if err := b.DisableUser(ctx, admin, op.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UserByID(ctx, op.ID); err == nil {
		t.Error("a disabled user's sessions still load")
	}
	us, _ := b.Users(ctx)
	var disabled bool
	for _, u := range us {
		if u.Username == "otto" {
			disabled = u.Disabled
		}
	}
	if !disabled {
		t.Error("the user list does not show otto disabled")
	}
	log := auditText(t, b)
	for _, want := range []string{"console user.create user typed role auditor ok", "console user.role user otto role approver ok",
		"console user.disable user otto ok", "console user.role user ada role auditor error: you cannot remove your own admin role"} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit trail lacks %q:\n%s", want, log)
		}
	}
}

func TestConsoleTokenSecretsAreShownOnceAndWork(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	b, admin, _ := consoleAs(t, ts, "ada", RoleAdmin)

	tok, secret, err := b.CreateAPIToken(ctx, admin, web.APITokenRequest{Name: "ci", Role: RoleAuditor, Expires: 30 * 24 * time.Hour})
	if err != nil || !strings.HasPrefix(secret, tok.Prefix) || tok.Owner != "ada" {
		t.Fatalf("create API token: %+v %v", tok, err)
	}
	if code := ts.call(t, "GET", "/api/v1/audit", secret, nil, nil); code != 200 {
		t.Errorf("the new token does not authenticate as an auditor: %d", code)
	}
	etok, esecret, err := b.CreateEnrollToken(ctx, admin, web.EnrollTokenRequest{MaxHosts: 3, Expires: 48 * time.Hour,
		Labels: map[string]string{"env": "prod"}})
	if err != nil || esecret == "" || etok.State != "active" || etok.Labels[0] != "env=prod" {
		t.Fatalf("create enrollment token: %+v %v", etok, err)
	}
	var fe *web.FormError
	if _, _, err := b.CreateEnrollToken(ctx, admin, web.EnrollTokenRequest{Expires: time.Hour, Labels: map[string]string{"bad key!": "x"}}); !errors.As(err, &fe) {
		t.Errorf("a bad label key: %v, want the API's validation as a FormError", err)
	}
	list, _ := b.APITokens(ctx)
	elist, _ := b.EnrollTokens(ctx)
	var listed strings.Builder
	for _, t := range list {
		listed.WriteString(t.ID + " " + t.Name + " " + t.Prefix + " " + t.Owner + "\n")
	}
	for _, t := range elist {
		listed.WriteString(t.ID + " " + t.Prefix + " " + t.CreatedBy + "\n")
	}
	listed.WriteString(auditText(t, b))
	secretPart := strings.TrimPrefix(secret, tok.Prefix)
	for _, s := range []string{secretPart, esecret} {
		if strings.Contains(listed.String(), s) {
			t.Errorf("a secret is listed again or audited: %q", s)
		}
	}
	if err := b.RevokeAPIToken(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "GET", "/api/v1/audit", secret, nil, nil); code != 401 {
		t.Errorf("a revoked token still authenticates: %d", code)
	}
	if err := b.RevokeEnrollToken(ctx, admin, etok.ID); err != nil {
		t.Fatal(err)
	}
	if elist, _ := b.EnrollTokens(ctx); elist[0].State != "revoked" {
		t.Errorf("the revoked enrollment token is %q", elist[0].State)
	}
	_, op, _ := consoleAs(t, ts, "otto", RoleOperator)
	if _, _, err := b.CreateAPIToken(ctx, op, web.APITokenRequest{Name: "x", Role: RoleAdmin}); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an operator creating an admin token: %v, want ErrForbidden", err)
	}
	if _, err := b.SyncFeeds(ctx, op); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an operator syncing feeds: %v, want ErrForbidden", err)
	}
}

func TestConsoleReportIsTheAPIs(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tokens, _ := orgServer(t, clock)
	ctx := context.Background()
	b := consoleBackend{ts.Server}
	q := web.ReportQuery{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	for _, format := range []string{"csv", "json", "html"} {
		f, err := b.ReportFile(ctx, q, format)
		if err != nil {
			t.Fatal(err)
		}
		var api []byte
		if code := ts.call(t, "GET", "/api/v1/report?from=2026-11-01&to=2026-11-25&format="+format, tokens["frank"], nil, &api); code != 200 {
			t.Fatalf("API report %s: %d", format, code)
		}
		if string(f.Body) != string(api) {
			t.Errorf("the console's %s report differs from the API's", format)
		}
		if format == "html" && !strings.Contains(f.CSP, "style-src 'sha256-") {
			t.Errorf("the printable page's policy %q", f.CSP)
		}
		if !strings.HasSuffix(f.Name, "2026-11-01-to-2026-11-25."+format) {
			t.Errorf("file name %q", f.Name)
		}
	}
	rep, err := b.Report(ctx, q)
	if err != nil || len(rep.Series) != 25 || len(rep.Headline) == 0 || len(rep.All) == 0 {
		t.Fatalf("report: %d days, %d headline figures (%v)", len(rep.Series), len(rep.Headline), err)
	}
	teams, groups, _ := b.ReportScopes(ctx)
	if len(teams) == 0 || len(groups) == 0 {
		t.Errorf("report scopes: teams %v, groups %v", teams, groups)
	}
}

func TestConsoleDashboardIsCheapAndComplete(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	ctx := context.Background()
	b := consoleBackend{ts.Server}
	d, err := b.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.OpenFindings != 2 || d.BySeverity["high"] != 1 || d.Hosts != 1 || d.Coverage == nil || len(d.Trend) != 30 {
		t.Errorf("dashboard: %d open (%v), %d hosts, coverage %v, %d trend days", d.OpenFindings, d.BySeverity, d.Hosts, d.Coverage, len(d.Trend))
	}
	if len(d.Windows) == 0 || d.Windows[0].Start.Before(clock.now()) {
		t.Errorf("upcoming windows: %+v", d.Windows)
	}
	// The KPIs are shared for a few minutes; the live counts are not.
	first := d.AsOf
	clock.advance(30 * time.Second)
	if d2, _ := b.Dashboard(ctx); !d2.AsOf.Equal(first) {
		t.Error("the dashboard recomputed its figures within 30 seconds")
	}
	// Past their age, the stale figures show at once while new ones are
	// computed in the background.
	clock.advance(dashboardMaxAge)
	if d3, _ := b.Dashboard(ctx); !d3.AsOf.Equal(first) {
		t.Error("an expired dashboard waited for new figures instead of showing the last ones")
	}
	var d3 web.DashboardStatus
	deadline := time.Now().Add(10 * time.Second)
	for d3, _ = b.Dashboard(ctx); !d3.AsOf.After(first); d3, _ = b.Dashboard(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("the dashboard's KPIs never refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// dashboardLoop's refresh ahead of time: the next load finds new figures
	// without computing them.
	clock.advance(dashboardMaxAge / 2)
	if _, _, err := ts.refreshDashboard(ctx, true); err != nil {
		t.Fatal(err)
	}
	if d4, _ := b.Dashboard(ctx); !d4.AsOf.After(d3.AsOf) {
		t.Error("a refresh ahead of time did not replace the figures")
	}
}

func TestUserChangesEndTheUsersAPITokens(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	b, admin, _ := consoleAs(t, ts, "ada", RoleAdmin)
	_, op, opPW := consoleAs(t, ts, "otto", RoleOperator)
	login := func(password string) string {
		t.Helper()
		var tok struct{ Token string }
		body := []byte(`{"username":"otto","password":"` + password + `"}`)
		if code := ts.call(t, "POST", "/api/v1/auth/login", "", body, &tok); code != 201 {
			t.Fatalf("API sign-in: %d", code)
		}
		return tok.Token
	}
	works := func(token string) bool { return ts.call(t, "GET", "/api/v1/hosts", token, nil, nil) == 200 }

	// A role change ends the sign-in tokens, which carry the old role.
	session := login(opPW)
	if err := b.SetUserRole(ctx, admin, op.ID, RoleAuditor); err != nil {
		t.Fatal(err)
	}
	if works(session) {
		t.Error("a sign-in token issued as operator still works after the role change")
	}
	// A password change ends them too.
	session = login(opPW)
	op, _ = b.UserByID(ctx, op.ID)
	if err := b.ChangePassword(ctx, op, opPW, "otto's new passphrase"); err != nil {
		t.Fatal(err)
	}
	if works(session) {
		t.Error("a sign-in token still works after the password change")
	}
	// Disabling the user ends every token that acts as them.
	session = login("otto's new passphrase")
	var long struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/tokens", ts.tokenFor(t, RoleAdmin), []byte(`{"name":"script","role":"auditor","user":"otto"}`), &long); code != 201 || !works(long.Token) {
		t.Fatalf("create a token acting as otto: %d", code)
	}
	if err := b.DisableUser(ctx, admin, op.ID); err != nil {
		t.Fatal(err)
	}
	if works(session) {
		t.Error("a disabled user's sign-in token still works")
	}
	if works(long.Token) {
		t.Error("a disabled user's API token still works")
	}
}

func TestTheAPIChangesRolesAndDisablesUsersByTheSameRules(t *testing.T) {
	ts := newTestServer(t)
	b, admin, _ := consoleAs(t, ts, "ada", RoleAdmin)
	adaToken, err := ts.createAPIToken(context.Background(), Principal{UserID: admin.ID, Role: RoleAdmin}, api.CreateAPITokenRequest{Name: "ada", Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	_, op, _ := consoleAs(t, ts, "otto", RoleOperator)
	var u api.User
	if code := ts.call(t, "POST", "/api/v1/users/otto/role", adaToken.Token, []byte(`{"role":"approver"}`), &u); code != 200 || u.Role != RoleApprover {
		t.Errorf("role by username: %d %+v", code, u)
	}
	if code := ts.call(t, "POST", "/api/v1/users/"+op.ID+"/role", adaToken.Token, []byte(`{"role":"god"}`), nil); code != 400 {
		t.Errorf("an unknown role: %d, want 400", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users/ada/role", adaToken.Token, []byte(`{"role":"auditor"}`), nil); code != 409 {
		t.Errorf("removing one's own admin through the API: %d, want 409", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users/ada/disable", adaToken.Token, nil, nil); code != 409 {
		t.Errorf("disabling oneself through the API: %d, want 409", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users/nobody/disable", adaToken.Token, nil, nil); code != 404 {
		t.Errorf("disabling a missing user: %d, want 404", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users/otto/disable", adaToken.Token, nil, nil); code != 200 {
		t.Errorf("disable otto: %d", code)
	}
	if _, err := b.UserByID(context.Background(), op.ID); err == nil {
		t.Error("otto's console sessions survive the API's disable")
	}
	var page api.Page[api.User]
	ts.call(t, "GET", "/api/v1/users", adaToken.Token, nil, &page)
	for _, u := range page.Items {
		if (u.Username == "otto") != (u.DisabledAt != nil) {
			t.Errorf("the user list shows %s disabled at %v", u.Username, u.DisabledAt)
		}
	}
}

// The console computes a report once per input and scope; its input is
// kept for a minute, then replaced in the background while the last one
// serves.
func TestConsoleReportsAreSharedForAMinute(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	ctx := context.Background()
	b := consoleBackend{ts.Server}
	first, err := b.Report(ctx, web.ReportQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Generated.Equal(clock.now()) {
		t.Errorf("the first report is as of %v, want now (%v)", first.Generated, clock.now())
	}
	clock.advance(30 * time.Second)
	if again, _ := b.Report(ctx, web.ReportQuery{}); !again.Generated.Equal(first.Generated) {
		t.Error("the input was read again within a minute")
	}
	high, err := b.Report(ctx, web.ReportQuery{Severity: "high"})
	if err != nil || !high.Generated.Equal(first.Generated) {
		t.Errorf("another scope within the minute: as of %v (%v), want the same input", high.Generated, err)
	}
	clock.advance(dashboardMaxAge)
	if stale, _ := b.Report(ctx, web.ReportQuery{}); !stale.Generated.Equal(first.Generated) {
		t.Error("past a minute the load waited for new input instead of using the last")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		later, _ := b.Report(ctx, web.ReportQuery{})
		if later.Generated.After(first.Generated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the report input is never read again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.advance(2 * reportInputStaleLimit)
	if old, _ := b.Report(ctx, web.ReportQuery{}); !old.Generated.Equal(clock.now()) {
		t.Error("an input older than the stale limit served instead of a fresh read")
	}
}
