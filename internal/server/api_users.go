package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/store"
)

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func userView(u store.User) api.User {
	return api.User{ID: u.ID, Username: u.Username, Role: u.Role, Email: u.Email, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt}
}

// Bounds on passwords chosen by people; generated ones are 24 characters.
const (
	minPasswordLen = 12
	maxPasswordLen = 1024 // Argon2id hashes the whole input
)

// handleCreateUser creates a user with a generated password, shown once.
// The role is the user's fleet-wide role; team roles come from the
// organisation (patchbay apply).
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateUserRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	email, err := checkEmail(req.Email)
	if err != nil {
		return err
	}
	u, password, err := s.createUser(r.Context(), req.Username, req.Role, "", email)
	if err != nil {
		return err
	}
	if email != "" {
		if err := s.refreshEmailRecipients(r.Context()); err != nil {
			return err
		}
	}
	v := userView(u)
	v.Password = password
	return writeJSON(w, http.StatusCreated, v)
}

// createUser creates a user with a role and an initial password; an empty
// password is generated; email may be "". It returns the user and the
// password.
func (s *Server) createUser(ctx context.Context, username, role, password, email string) (store.User, string, error) {
	if !usernameRE.MatchString(username) {
		return store.User{}, "", errBadRequest("username: lower-case letters, digits, '.', '_', '-' (at most 63)")
	}
	if !slices.Contains(Roles(), role) {
		return store.User{}, "", errBadRequest(fmt.Sprintf("role %q: use one of %v", role, Roles()))
	}
	if password == "" {
		password = randomSecret("", 18)
	} else if err := checkNewPassword(password); err != nil {
		return store.User{}, "", err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, "", err
	}
	if email != "" {
		auditSummary(ctx, "user %s created with role %s, reached at %s", username, role, email)
	} else {
		auditSummary(ctx, "user %s created with role %s", username, role)
	}
	u, err := s.store.CreateUser(ctx, store.User{ID: uuid.NewString(), Username: username, PasswordHash: hash,
		Role: role, Email: email, CreatedAt: s.now()})
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, "", &Error{http.StatusConflict, "conflict", fmt.Sprintf("the username %q is taken", username)}
	}
	return u, password, err
}

func checkNewPassword(p string) error {
	if len(p) < minPasswordLen || len(p) > maxPasswordLen {
		return errBadRequest(fmt.Sprintf("password: use %d to %d characters (a passphrase of several words is easiest)", minPasswordLen, maxPasswordLen))
	}
	return nil
}

// setUserRole changes a user's fleet-wide role. An admin cannot remove
// their own admin role, so the last admin cannot lock everyone out. It
// returns the user (as found, when refused).
func (s *Server) setUserRole(ctx context.Context, actor Principal, id, role string) (store.User, error) {
	if !slices.Contains(Roles(), role) {
		return store.User{}, errBadRequest(fmt.Sprintf("role %q: use one of %v", role, Roles()))
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	if u.ID == actor.UserID && u.Role == RoleAdmin && role != RoleAdmin {
		return u, &Error{http.StatusConflict, "conflict", "you cannot remove your own admin role; ask another admin to do it"}
	}
	setAuditDiff(ctx, map[string]string{"role": u.Role}, map[string]string{"role": role})
	auditSummary(ctx, "role of user %s changed from %s to %s", u.Username, u.Role, role)
	if err := s.store.SetUserRole(ctx, id, role); err != nil {
		return store.User{}, err
	}
	// A sign-in token carries the role it was issued with: end them so
	// the new role applies to the API at once, as it does in the console.
	if err := s.revokeUserTokens(ctx, u, true); err != nil {
		return store.User{}, err
	}
	u.Role = role
	return u, nil
}

// disableUser stops a user from signing in; their console sessions end at
// their next request and their API tokens are revoked. Nobody can disable
// themselves.
func (s *Server) disableUser(ctx context.Context, actor Principal, id string) (store.User, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	if u.ID == actor.UserID {
		return u, &Error{http.StatusConflict, "conflict", "you cannot disable yourself; ask another admin to do it"}
	}
	auditSummary(ctx, "user %s disabled and their API tokens revoked", u.Username)
	if err := s.store.DisableUser(ctx, id, s.now()); err != nil {
		return store.User{}, err
	}
	// The API checks tokens, not their user: revoke every token that acts
	// as the disabled user.
	if err := s.revokeUserTokens(ctx, u, false); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// changePassword sets a user's password after checking the current one
// under the sign-in limits for the client address addr. The new hash has a new salt, so the user's session epoch (passwordEpoch)
// changes and every console session started before ends; the user's API
// sign-in tokens are revoked too.
func (s *Server) changePassword(ctx context.Context, userID, current, next, addr string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := s.signIn(ctx, u.Username, current, addr); errors.Is(err, errBadCredentials) {
		return errUnauthorized("the current password is wrong")
	} else if err != nil {
		return err
	}
	if err := checkNewPassword(next); err != nil {
		return err
	}
	if next == current {
		return errBadRequest("password: choose a new password, not the current one")
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	auditSummary(ctx, "password of user %s changed", userID)
	if err := s.store.SetUserPassword(ctx, userID, hash); err != nil {
		return err
	}
	return s.revokeUserTokens(ctx, u, true)
}

// revokeUserTokens revokes the unrevoked API tokens acting as u: only the
// 12-hour sign-in tokens of `patchbay login` when sessionsOnly, else all.
func (s *Server) revokeUserTokens(ctx context.Context, u store.User, sessionsOnly bool) error {
	toks, err := s.store.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.UserID != u.ID || t.RevokedAt != nil || (sessionsOnly && t.Name != loginTokenName(u.Username)) {
			continue
		}
		if err := s.store.RevokeAPIToken(ctx, t.ID, s.now()); err != nil {
			return err
		}
	}
	return nil
}

// passwordEpoch names the current password of a user without revealing
// anything about it: a digest of its salted hash.
func passwordEpoch(u store.User) string {
	return HashSecret("epoch:" + u.PasswordHash)[:16]
}

// userRef finds a user by ID or, failing that, by username.
func (s *Server) userRef(ctx context.Context, ref string) (store.User, error) {
	u, err := s.store.GetUser(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.store.GetUserByName(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no user %q", ref)}
	}
	return u, err
}

// SetRoleRequest changes a user's role.
type SetRoleRequest struct {
	Role string `json:"role"`
}

func (s *Server) handleSetUserRole(w http.ResponseWriter, r *http.Request) error {
	var req SetRoleRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	u, err := s.userRef(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if u, err = s.setUserRole(r.Context(), principalFrom(r.Context()), u.ID, req.Role); err != nil {
		return err
	}
	return writeJSON(w, 200, userView(u))
}

// checkEmail returns a bare address ("alice@example.com") from what a
// person typed, or "" for "".
func checkEmail(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", errBadRequest(fmt.Sprintf("email: %q is not a bare e-mail address such as alice@example.com", s))
	}
	return a.Address, nil
}

func (s *Server) handleSetUserEmail(w http.ResponseWriter, r *http.Request) error {
	var req api.SetEmailRequest
	if err := decodeJSON(w, r, 4<<10, &req); err != nil {
		return err
	}
	email, err := checkEmail(req.Email)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.userRef(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if email == "" {
		auditSummary(ctx, "user %s has no e-mail address any more (was %q)", u.Username, u.Email)
	} else {
		auditSummary(ctx, "user %s reached at %s (was %q)", u.Username, email, u.Email)
	}
	if err := s.store.SetUserEmail(ctx, u.ID, email); err != nil {
		return err
	}
	u.Email = email
	if err := s.refreshEmailRecipients(ctx); err != nil {
		return err
	}
	return writeJSON(w, 200, userView(u))
}

func (s *Server) handleDisableUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := s.disableUser(r.Context(), principalFrom(r.Context()), u.ID); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "disabled"})
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	page := api.Page[api.User]{Items: make([]api.User, 0, len(us)), Total: len(us)}
	for _, u := range us {
		page.Items = append(page.Items, userView(u))
	}
	return writeJSON(w, 200, page)
}
