package server

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/store"
)

func TestEffectiveRoleIsTheLesserOfTokenAndUser(t *testing.T) {
	cases := []struct{ token, user, want string }{
		{RoleAdmin, RoleAdmin, RoleAdmin},
		{RoleAdmin, RoleAuditor, RoleAuditor},
		{RoleOperator, RoleAdmin, RoleOperator},
		{RoleOperator, RoleOperator, RoleOperator},
		{RoleSecurity, "", RoleSecurity},
		{RoleOperator, RoleSecurity, RoleOperator}, // incomparable: both must allow
	}
	for _, c := range cases {
		if got := effectiveRole(c.token, c.user); got != c.want {
			t.Errorf("token %s, user %s: %s, want %s", c.token, c.user, got, c.want)
		}
	}
	// An operator token of a security user may do what both roles allow.
	p := Principal{Role: RoleOperator, UserRole: RoleSecurity}
	for perm, want := range map[Permission]bool{PermHostsRead: true, PermChangesRun: false, PermFeedsManage: false,
		PermChangesCreate: true, PermHostsWrite: false, PermAuditRead: false} {
		if got := p.allows(perm); got != want {
			t.Errorf("operator token of a security user, %s: %v, want %v", perm, got, want)
		}
	}
}

// TestDemotingOrDisablingAUserAppliesToAllTheirTokensAtOnce: the issue's
// admin demoted to auditor still created an admin user with an older
// token. A token acts with the lesser of its role and its user's current
// role, checked on every request.
func TestDemotingOrDisablingAUserAppliesToAllTheirTokensAtOnce(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	root := ts.tokenFor(t, RoleAdmin)
	if _, err := ts.db.CreateUser(ctx, store.User{ID: "u-mallory", Username: "mallory", PasswordHash: "x", Role: RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A long-lived admin token (not a sign-in token) acting as mallory.
	var old api.APIToken
	if code := ts.call(t, "POST", "/api/v1/tokens", root, []byte(`{"name":"ci","role":"admin","user":"mallory"}`), &old); code != 201 {
		t.Fatalf("create mallory's token: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users", old.Token, []byte(`{"username":"before","role":"auditor"}`), nil); code != 201 {
		t.Fatalf("mallory as admin creates a user: %d, want 201", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users/mallory/role", root, []byte(`{"role":"auditor"}`), nil); code != 200 {
		t.Fatalf("demote mallory: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/users", old.Token, []byte(`{"username":"eve","role":"admin"}`), nil); code != 403 {
		t.Errorf("demoted user's old admin token created an admin user: %d, want 403", code)
	}
	if code := ts.call(t, "GET", "/api/v1/audit", old.Token, nil, nil); code != 200 {
		t.Errorf("demoted user's token cannot do what an auditor may: %d, want 200", code)
	}
	// Promoting back restores the token's own role, never more than it.
	if code := ts.call(t, "POST", "/api/v1/users/mallory/role", root, []byte(`{"role":"admin"}`), nil); code != 200 {
		t.Fatalf("promote mallory: %d", code)
	}
	var auditorTok api.APIToken
	if code := ts.call(t, "POST", "/api/v1/tokens", root, []byte(`{"name":"ro","role":"auditor","user":"mallory"}`), &auditorTok); code != 201 {
		t.Fatalf("create auditor token: %d", code)
	}
	if code := ts.call(t, "GET", "/api/v1/users", auditorTok.Token, nil, nil); code != 403 {
		t.Errorf("auditor token of an admin user listed users: %d, want 403", code)
	}
	if code := ts.call(t, "GET", "/api/v1/users", old.Token, nil, nil); code != 200 {
		t.Errorf("admin token of a re-promoted admin: %d, want 200", code)
	}
	// Disabling takes effect on the token at once, even if it were not revoked.
	if err := ts.db.DisableUser(ctx, "u-mallory", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "GET", "/api/v1/hosts", old.Token, nil, nil); code != 401 {
		t.Errorf("disabled user's token: %d, want 401", code)
	}

	// tokens list says whose each token is.
	var page api.Page[api.APIToken]
	if code := ts.call(t, "GET", "/api/v1/tokens", root, nil, &page); code != 200 {
		t.Fatalf("list tokens: %d", code)
	}
	users := map[string]string{}
	for _, k := range page.Items {
		users[k.Name] = k.User
	}
	want := map[string]string{"ci": "mallory", "ro": "mallory", "test admin": ""}
	for name, u := range want {
		if got, ok := users[name]; !ok || got != u {
			t.Errorf("token %q listed with user %q (present %v), want %q", name, got, ok, u)
		}
	}
}
