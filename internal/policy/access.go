package policy

import "slices"

// The role model: which role holds which permission. The server enforces it
// on every API route and console page; the console's tests use it too, so
// it lives here, in a package with no I/O, rather than in the server.

// Permission is what an API route or console page needs from its caller.
type Permission string

// Permissions. The first three are not granted by roles: they name how the
// caller proves itself on routes outside the role model.
const (
	PermPublic       Permission = "public"       // anyone: health, readiness, API description
	PermAgent        Permission = "agent"        // a host's client certificate (mutual TLS)
	PermEnrollToken  Permission = "enroll-token" // an enrollment token in the request body
	PermHostsRead    Permission = "hosts:read"
	PermHostsWrite   Permission = "hosts:write"
	PermHostsRevoke  Permission = "hosts:revoke"
	PermEnrollManage Permission = "enroll:manage"
	PermTokensManage Permission = "tokens:manage"
	PermMetricsRead  Permission = "metrics:read"
	PermVulnsRead    Permission = "vulns:read"
	PermFeedsRead    Permission = "feeds:read"
	PermFeedsManage  Permission = "feeds:manage"
	PermUsersManage  Permission = "users:manage"
	PermOrgRead      Permission = "org:read"
	PermOrgApply     Permission = "org:apply"
	PermCalendars    Permission = "calendars:manage"
	// PermCalendarToken: the secret calendar token in the path.
	PermCalendarToken     Permission = "calendar-token"
	PermExceptionsRead    Permission = "exceptions:read"
	PermExceptionsRequest Permission = "exceptions:request"
	PermExceptionsApprove Permission = "exceptions:approve"
	PermAuditRead         Permission = "audit:read"
	PermChangesRead       Permission = "changes:read"
	PermChangesCreate     Permission = "changes:create"
	PermChangesApprove    Permission = "changes:approve"
	PermChangesRun        Permission = "changes:run"
	PermSignOff           Permission = "changes:signoff"
	PermRetroWrite        Permission = "retrospectives:write"
	PermKBRead            Permission = "kb:read"
	PermKBWrite           Permission = "kb:write"
	PermReportRead        Permission = "reports:read"
	PermNotifyRead        Permission = "notifications:read"
	PermNotifyManage      Permission = "notifications:manage"
	// PermReleasesUpload: upload an agent release for self-updates (admin
	// only: what agents may run is decided by the offline release key).
	PermReleasesUpload Permission = "releases:upload"
	// PermLogin: the username and password in the body.
	PermLogin Permission = "login"
)

// Roles lists every role a user, an API token or a team member can hold.
func Roles() []string { return slices.Clone(roles) }

// RoleAllows says whether a role holds a permission. Admin holds all of
// them; everyone may read hosts; only operators and admins change them.
func RoleAllows(role string, p Permission) bool {
	if role == RoleAdmin {
		switch p {
		case PermPublic, PermAgent, PermEnrollToken, PermCalendarToken, PermLogin:
			return false
		}
		return true
	}
	switch p {
	case PermHostsRead, PermMetricsRead, PermVulnsRead, PermFeedsRead, PermOrgRead, PermExceptionsRead, PermChangesRead, PermKBRead, PermReportRead:
		return slices.Contains(roles, role)
	case PermHostsWrite:
		return role == RoleOperator
	case PermFeedsManage:
		return role == RoleSecurity
	case PermCalendars:
		return role != RoleAuditor && slices.Contains(roles, role)
	case PermExceptionsRequest:
		return role == RoleSecurity || role == RoleOperator || role == RoleApprover
	case PermExceptionsApprove:
		return role == RoleApprover || role == RoleSecurity
	case PermAuditRead:
		return role == RoleAuditor || role == RoleSecurity
	case PermNotifyRead:
		return role == RoleAuditor || role == RoleSecurity || role == RoleOperator
	case PermChangesCreate:
		return role == RoleOperator || role == RoleSecurity
	case PermChangesApprove:
		return role == RoleApprover
	case PermChangesRun:
		return role == RoleOperator
	case PermSignOff:
		return role == RoleStakeholder
	case PermRetroWrite, PermKBWrite:
		return role != RoleAuditor && slices.Contains(roles, role)
	}
	return false
}
