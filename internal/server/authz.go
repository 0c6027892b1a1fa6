package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

// Permission is what a route needs from its caller.
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
	// PermLogin: the username and password in the body.
	PermLogin Permission = "login"
)

// Roles a user or API token can hold.
const (
	RoleAdmin       = "admin"
	RoleSecurity    = "security"
	RoleOperator    = "operator"
	RoleApprover    = "approver"
	RoleStakeholder = "stakeholder"
	RoleAuditor     = "auditor"
)

// Roles lists every role, for validation and for the authorization test.
func Roles() []string {
	return []string{RoleAdmin, RoleSecurity, RoleOperator, RoleApprover, RoleStakeholder, RoleAuditor}
}

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
		for _, r := range Roles() {
			if r == role {
				return true
			}
		}
	case PermHostsWrite:
		return role == RoleOperator
	case PermFeedsManage:
		return role == RoleSecurity
	case PermCalendars:
		return role != RoleAuditor && slices.Contains(Roles(), role)
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
		return role != RoleAuditor && slices.Contains(Roles(), role)
	}
	return false
}

// Principal is the authenticated caller of an API route.
type Principal struct {
	UserID  string
	TokenID string
	// Role is what the caller acts with: the lesser of the token's role and
	// its user's current role (see effectiveRole).
	Role string
	// UserRole is the token's user's current role ("" for a token without
	// a user). When neither role holds the other, Role is the token's and
	// both must allow a permission.
	UserRole string
}

// allows says whether the principal holds a permission: its role does,
// and so does its user's current role.
func (p Principal) allows(perm Permission) bool {
	return RoleAllows(p.Role, perm) && (p.UserRole == "" || RoleAllows(p.UserRole, perm))
}

// effectiveRole is the lesser of a token's role and its user's current
// role. Admin holds every other role's permissions, so admin with X is X;
// two different non-admin roles are incomparable: the token's role is
// kept and Principal.allows also asks the user's.
func effectiveRole(tokenRole, userRole string) string {
	switch {
	case userRole == "" || userRole == RoleAdmin || userRole == tokenRole:
		return tokenRole
	case tokenRole == RoleAdmin:
		return userRole
	}
	return tokenRole
}

type principalKey struct{}

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// HashSecret is how API and enrollment token secrets are kept: SHA-256 is
// right for 256-bit random secrets, which no dictionary reaches.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// authenticate resolves the bearer token of an API request.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return Principal{}, errUnauthorized("missing bearer token; pass --token or set PATCHBAY_TOKEN")
	}
	tok, err := s.store.GetAPITokenByHash(r.Context(), HashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errUnauthorized("unknown API token")
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.now()
	if tok.RevokedAt != nil {
		return Principal{}, errUnauthorized("API token " + tok.Prefix + " was revoked")
	}
	if tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt) {
		return Principal{}, errUnauthorized("API token " + tok.Prefix + " expired at " + tok.ExpiresAt.UTC().Format(time.RFC3339) + "; create a new one")
	}
	p := Principal{UserID: tok.UserID, TokenID: tok.ID, Role: tok.Role}
	if tok.UserID != "" {
		// The user's current state, read on every request: disabling or
		// demoting a user applies to all their tokens at once.
		u, err := s.store.GetUser(r.Context(), tok.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, errUnauthorized("API token " + tok.Prefix + " belongs to a user that no longer exists")
		}
		if err != nil {
			return Principal{}, err
		}
		if u.DisabledAt != nil {
			return Principal{}, errUnauthorized("API token " + tok.Prefix + " belongs to disabled user " + u.Username)
		}
		p.Role, p.UserRole = effectiveRole(tok.Role, u.Role), u.Role
	}
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		// Bounded write rate: one touch per token per minute.
		_ = s.store.TouchAPIToken(r.Context(), tok.ID, now)
	}
	return p, nil
}
