package server

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/store"
)

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func userView(u store.User) api.User {
	return api.User{ID: u.ID, Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt}
}

// handleCreateUser creates a user with a generated password, shown once.
// The role is the user's fleet-wide role; team roles come from the
// organisation (patchbay apply).
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateUserRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if !usernameRE.MatchString(req.Username) {
		return errBadRequest("username: lower-case letters, digits, '.', '_', '-' (at most 63)")
	}
	if !slices.Contains(Roles(), req.Role) {
		return errBadRequest(fmt.Sprintf("role %q: use one of %v", req.Role, Roles()))
	}
	password := randomSecret("", 18)
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u, err := s.store.CreateUser(r.Context(), store.User{ID: uuid.NewString(), Username: req.Username, PasswordHash: hash,
		Role: req.Role, CreatedAt: s.now()})
	if err != nil {
		return err
	}
	v := userView(u)
	v.Password = password
	return writeJSON(w, http.StatusCreated, v)
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
