package server

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay/internal/store"
)

// calendarRevokeRoles are the team roles that may revoke their team's
// calendar URLs: every team role that may manage calendars at all.
var calendarRevokeRoles = []string{RoleAdmin, RoleSecurity, RoleOperator, RoleApprover, RoleStakeholder}

// revokeCalendar revokes a calendar URL for the caller in ctx: a global
// admin, or a member of the team that owns it (the team itself, or the
// group's team) in one of calendarRevokeRoles. A URL whose team or group
// no longer exists only an admin revokes. The API and the console call it.
func (s *Server) revokeCalendar(ctx context.Context, id string) error {
	cs, err := s.store.ListCalendarFeeds(ctx)
	if err != nil {
		return err
	}
	var feed *store.CalendarFeed
	for i := range cs {
		if cs[i].ID == id {
			feed = &cs[i]
		}
	}
	if feed == nil {
		return store.ErrNotFound
	}
	team := ""
	_, org := s.org.get()
	switch feed.Scope {
	case "team":
		team = feed.Name
	case "group":
		for _, g := range org.Groups {
			if g.Name == feed.Name {
				team = g.Team
			}
		}
	}
	if team == "" {
		if principalFrom(ctx).Role != RoleAdmin {
			return errForbidden(fmt.Sprintf("the %s %s of this calendar URL no longer exists; only an admin may revoke it", feed.Scope, feed.Name))
		}
	} else if err := s.requireTeamRole(ctx, []string{team}, calendarRevokeRoles...); err != nil {
		return err
	}
	auditSummary(ctx, "calendar URL %s for %s %s revoked", id, feed.Scope, feed.Name)
	return s.store.RevokeCalendarFeed(ctx, id, s.now())
}
