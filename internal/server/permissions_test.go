package server

import (
	"strings"
	"testing"
)

// permissionMatrix is who holds what, written out by hand from the product's
// role model (docs/architecture.md, "Access"): Y holds, . does not. Columns:
// admin, security, operator, approver, stakeholder, auditor. It is the
// oracle of the route tests; RoleAllows must agree with it cell by cell.
const permissionMatrix = `
permission            adm sec ope app stk aud
public                 .   .   .   .   .   .
agent                  .   .   .   .   .   .
enroll-token           .   .   .   .   .   .
calendar-token         .   .   .   .   .   .
login                  .   .   .   .   .   .
hosts:read             Y   Y   Y   Y   Y   Y
hosts:write            Y   .   Y   .   .   .
hosts:revoke           Y   .   .   .   .   .
enroll:manage          Y   .   .   .   .   .
tokens:manage          Y   .   .   .   .   .
metrics:read           Y   Y   Y   Y   Y   Y
vulns:read             Y   Y   Y   Y   Y   Y
feeds:read             Y   Y   Y   Y   Y   Y
feeds:manage           Y   Y   .   .   .   .
users:manage           Y   .   .   .   .   .
org:read               Y   Y   Y   Y   Y   Y
org:apply              Y   .   .   .   .   .
releases:upload        Y   .   .   .   .   .
calendars:manage       Y   Y   Y   Y   Y   .
exceptions:read        Y   Y   Y   Y   Y   Y
exceptions:request     Y   Y   Y   Y   .   .
exceptions:approve     Y   Y   .   Y   .   .
audit:read             Y   Y   .   .   .   Y
changes:read           Y   Y   Y   Y   Y   Y
changes:create         Y   Y   Y   .   .   .
changes:approve        Y   .   .   Y   .   .
changes:run            Y   .   Y   .   .   .
changes:signoff        Y   .   .   .   Y   .
retrospectives:write   Y   Y   Y   Y   Y   .
kb:read                Y   Y   Y   Y   Y   Y
kb:write               Y   Y   Y   Y   Y   .
reports:read           Y   Y   Y   Y   Y   Y
notifications:read     Y   Y   Y   .   .   Y
notifications:manage   Y   .   .   .   .   .
`

var matrixRoles = []string{RoleAdmin, RoleSecurity, RoleOperator, RoleApprover, RoleStakeholder, RoleAuditor}

// parseMatrix reads permissionMatrix into permission → role → holds.
func parseMatrix(t *testing.T) map[Permission]map[string]bool {
	t.Helper()
	m := map[Permission]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(permissionMatrix), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 1+len(matrixRoles) {
			t.Fatalf("matrix line %q: want a permission and %d cells", line, len(matrixRoles))
		}
		row := map[string]bool{}
		for i, role := range matrixRoles {
			switch f[1+i] {
			case "Y":
				row[role] = true
			case ".":
			default:
				t.Fatalf("matrix line %q: cell %q is neither Y nor .", line, f[1+i])
			}
		}
		m[Permission(f[0])] = row
	}
	return m
}

// matrixAllows is the hand-written answer to "may role call a route that
// needs p?".
func matrixAllows(t *testing.T, role string, p Permission) bool {
	t.Helper()
	row, ok := parseMatrix(t)[p]
	if !ok {
		t.Fatalf("permission %q is not in the hand-written matrix of permissions_test.go", p)
	}
	return row[role]
}

func TestRolesHoldExactlyTheHandWrittenPermissions(t *testing.T) {
	if got := strings.Join(Roles(), " "); got != strings.Join(matrixRoles, " ") {
		t.Fatalf("Roles() = %s; the matrix has columns for %s", got, strings.Join(matrixRoles, " "))
	}
	m := parseMatrix(t)
	for p, row := range m {
		for _, role := range matrixRoles {
			if got := RoleAllows(role, p); got != row[role] {
				t.Errorf("RoleAllows(%s, %s) = %v; the matrix says %v", role, p, got, row[role])
			}
		}
	}
	if got := RoleAllows("no-such-role", PermHostsRead); got {
		t.Errorf("an unknown role holds hosts:read")
	}
}

// routePermissions is every route with the permission it must declare,
// written out by hand. A route added to the table without a line here, or
// declared with another permission, fails.
const routePermissions = `
GET  /healthz                                public
GET  /api/v1/notifications                   notifications:read
POST /api/v1/notifications/{id}/retry        notifications:manage
POST /api/v1/notifications/test              notifications:manage
GET  /readyz                                 public
GET  /api/v1/openapi.json                    public
GET  /metrics                                metrics:read
POST /api/v1/auth/login                      login
GET  /api/v1/hosts                           hosts:read
GET  /api/v1/hosts/{id}                      hosts:read
GET  /api/v1/hosts/{id}/packages             hosts:read
PUT  /api/v1/hosts/{id}/labels               hosts:write
POST /api/v1/hosts/{id}/revoke               hosts:revoke
GET  /api/v1/hosts/{id}/findings             vulns:read
GET  /api/v1/vulns                           vulns:read
GET  /api/v1/vulns/by/{by}                   vulns:read
GET  /api/v1/vulns/{id}                      vulns:read
GET  /api/v1/feeds                           feeds:read
POST /api/v1/feeds/import                    feeds:manage
GET  /api/v1/feeds/jobs                      feeds:read
GET  /api/v1/feeds/jobs/{id}                 feeds:read
POST /api/v1/feeds/sync                      feeds:manage
DELETE /api/v1/feeds/{name}                 feeds:manage
POST /api/v1/enroll-tokens                   enroll:manage
GET  /api/v1/enroll-tokens                   enroll:manage
POST /api/v1/enroll-tokens/{id}/revoke       enroll:manage
GET  /api/v1/org                             org:read
POST /api/v1/org/apply                       org:apply
GET  /api/v1/groups                          org:read
GET  /api/v1/groups/{name}                   org:read
GET  /api/v1/hosts/{id}/windows              org:read
POST /api/v1/calendars                       calendars:manage
GET  /api/v1/calendars                       calendars:manage
POST /api/v1/calendars/{id}/revoke           calendars:manage
GET  /calendar/{token}                       calendar-token
GET  /api/v1/exceptions                      exceptions:read
POST /api/v1/exceptions                      exceptions:request
POST /api/v1/exceptions/{id}/approve         exceptions:approve
POST /api/v1/exceptions/{id}/revoke          exceptions:request
GET  /api/v1/audit                           audit:read
GET  /api/v1/audit/verify                    audit:read
GET  /api/v1/audit/export                    audit:read
POST /api/v1/changes                         changes:create
GET  /api/v1/changes                         changes:read
GET  /api/v1/changes/{id}                    changes:read
PUT  /api/v1/changes/{id}                    changes:create
POST /api/v1/changes/{id}/submit             changes:create
POST /api/v1/changes/{id}/approve            changes:approve
POST /api/v1/changes/{id}/reject             changes:approve
POST /api/v1/changes/{id}/start              changes:run
POST /api/v1/changes/{id}/halt               changes:run
POST /api/v1/changes/{id}/resume             changes:run
POST /api/v1/changes/{id}/rollback           changes:run
POST /api/v1/changes/{id}/cancel             changes:create
POST /api/v1/emergency-stop                  changes:run
POST /api/v1/emergency-stop/release          changes:run
POST /api/v1/changes/{id}/signoff            changes:signoff
GET  /api/v1/changes/{id}/retrospective      changes:read
POST /api/v1/changes/{id}/retrospective      retrospectives:write
GET  /api/v1/changes/{id}/evidence           reports:read
GET  /api/v1/retrospectives                  changes:read
GET  /api/v1/kb                              kb:read
GET  /api/v1/kb/{id}                         kb:read
POST /api/v1/kb                              kb:write
PUT  /api/v1/kb/{id}                         kb:write
GET  /api/v1/report                          reports:read
POST /api/v1/users                           users:manage
GET  /api/v1/users                           users:manage
POST /api/v1/users/{id}/role                 users:manage
POST /api/v1/users/{id}/email                users:manage
POST /api/v1/users/{id}/disable              users:manage
POST /api/v1/tokens                          tokens:manage
GET  /api/v1/tokens                          tokens:manage
POST /api/v1/tokens/{id}/revoke              tokens:manage
POST /api/v1/releases                        releases:upload
GET  /api/v1/releases                        changes:read
POST /agent/v1/enroll                        enroll-token
POST /agent/v1/checkin                       agent
POST /agent/v1/jobs/result                   agent
POST /agent/v1/renew                         agent
GET  /agent/v1/releases/{version}/{os}/{arch} agent
`

func TestEveryRouteDeclaresTheHandWrittenPermission(t *testing.T) {
	want := map[string]Permission{}
	for _, line := range strings.Split(strings.TrimSpace(routePermissions), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("route line %q: want METHOD PATH PERMISSION", line)
		}
		want[f[0]+" "+f[1]] = Permission(f[2])
	}
	matrix := parseMatrix(t)
	ts := newTestServer(t)
	seen := map[string]bool{}
	for _, rt := range ts.routes {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		p, ok := want[key]
		if !ok {
			t.Errorf("route %s is not in the hand-written list of permissions_test.go", key)
			continue
		}
		if rt.Perm != p {
			t.Errorf("route %s declares %s; the list says %s", key, rt.Perm, p)
		}
		if _, ok := matrix[rt.Perm]; !ok {
			t.Errorf("route %s declares %s, which the permission matrix does not have", key, rt.Perm)
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("the list names %s, which the route table does not have", key)
		}
	}
}
