package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// The role model lives in policy (access.go), so the console's tests can
// use it without importing the server; these names keep the server's code
// reading as before.
type Permission = policy.Permission

// Permissions, as policy defines them.
const (
	PermPublic            = policy.PermPublic
	PermAgent             = policy.PermAgent
	PermEnrollToken       = policy.PermEnrollToken
	PermHostsRead         = policy.PermHostsRead
	PermHostsWrite        = policy.PermHostsWrite
	PermHostsRevoke       = policy.PermHostsRevoke
	PermEnrollManage      = policy.PermEnrollManage
	PermTokensManage      = policy.PermTokensManage
	PermMetricsRead       = policy.PermMetricsRead
	PermVulnsRead         = policy.PermVulnsRead
	PermFeedsRead         = policy.PermFeedsRead
	PermFeedsManage       = policy.PermFeedsManage
	PermUsersManage       = policy.PermUsersManage
	PermOrgRead           = policy.PermOrgRead
	PermOrgApply          = policy.PermOrgApply
	PermCalendars         = policy.PermCalendars
	PermCalendarToken     = policy.PermCalendarToken
	PermExceptionsRead    = policy.PermExceptionsRead
	PermExceptionsRequest = policy.PermExceptionsRequest
	PermExceptionsApprove = policy.PermExceptionsApprove
	PermAuditRead         = policy.PermAuditRead
	PermChangesRead       = policy.PermChangesRead
	PermChangesCreate     = policy.PermChangesCreate
	PermChangesApprove    = policy.PermChangesApprove
	PermChangesRun        = policy.PermChangesRun
	PermSignOff           = policy.PermSignOff
	PermRetroWrite        = policy.PermRetroWrite
	PermKBRead            = policy.PermKBRead
	PermKBWrite           = policy.PermKBWrite
	PermReportRead        = policy.PermReportRead
	PermNotifyRead        = policy.PermNotifyRead
	PermNotifyManage      = policy.PermNotifyManage
	PermLogin             = policy.PermLogin
	PermReleasesUpload    = policy.PermReleasesUpload
)

// Roles, as policy defines them.
const (
	RoleAdmin       = policy.RoleAdmin
	RoleSecurity    = policy.RoleSecurity
	RoleOperator    = policy.RoleOperator
	RoleApprover    = policy.RoleApprover
	RoleStakeholder = policy.RoleStakeholder
	RoleAuditor     = policy.RoleAuditor
)

// Roles lists every role.
func Roles() []string { return policy.Roles() }

// RoleAllows says whether a role holds a permission (policy.RoleAllows).
func RoleAllows(role string, p Permission) bool { return policy.RoleAllows(role, p) }

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
