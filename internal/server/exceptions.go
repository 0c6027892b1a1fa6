package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/patchbay/patchbay/internal/api"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// ExceptionView is an exception as the API shows it.
type ExceptionView = api.Exception

func exceptionState(e store.Exception, now time.Time) string {
	switch {
	case e.RevokedAt != nil:
		return "revoked"
	case !now.Before(e.ExpiresAt) || e.ExpiredAt != nil:
		return "expired"
	case e.ApprovedAt == nil:
		return "pending"
	}
	return "active"
}

func (s *Server) exceptionView(e store.Exception) ExceptionView {
	return ExceptionView{ID: e.ID, Team: e.Team, Advisory: e.AdvisoryID, Package: e.Package, Host: e.HostID, Group: e.Group,
		Justification: e.Justification, RequestedBy: e.RequestedBy, RequestedAt: e.RequestedAt, ApprovedBy: e.ApprovedBy,
		ApprovedAt: e.ApprovedAt, ExpiresAt: e.ExpiresAt, RevokedAt: e.RevokedAt, State: exceptionState(e, s.now())}
}

func toPolicyException(e store.Exception) policy.Exception {
	return policy.Exception{ID: e.ID, Team: e.Team, Selector: policy.ExceptionSelector{Advisory: e.AdvisoryID, Package: e.Package,
		Host: e.HostID, Group: e.Group}, Justification: e.Justification, RequestedBy: e.RequestedBy, ApprovedBy: e.ApprovedBy,
		RequestedAt: e.RequestedAt, ApprovedAt: e.ApprovedAt, Expires: e.ExpiresAt, RevokedAt: e.RevokedAt}
}

// memberRole says whether the caller holds one of roles in team: a global
// admin always does; otherwise the organisation's membership decides.
func (s *Server) memberRole(ctx context.Context, team string, roles ...string) (string, bool) {
	name := principalName(ctx, s)
	if principalFrom(ctx).Role == RoleAdmin {
		return name, true
	}
	_, org := s.org.get()
	for _, t := range org.Teams {
		if t.Name != team {
			continue
		}
		for _, m := range t.Members {
			if m.User == name && slices.Contains(roles, m.Role) {
				return name, true
			}
		}
	}
	return name, false
}

// requireTeamRole refuses a caller who holds none of roles in any of teams
// (a global admin always passes).
func (s *Server) requireTeamRole(ctx context.Context, teams []string, roles ...string) error {
	var name string
	for _, t := range teams {
		n, ok := s.memberRole(ctx, t, roles...)
		if ok {
			return nil
		}
		name = n
	}
	return errForbidden(fmt.Sprintf("%s is not %s in team %s, which owns this object", name, strings.Join(roles, " or "), strings.Join(teams, " or ")))
}

// ExceptionRequest asks for a risk acceptance.
type ExceptionRequest struct {
	Team          string `json:"team"`
	Advisory      string `json:"advisory,omitempty"`
	Package       string `json:"package,omitempty"`
	Host          string `json:"host,omitempty"` // host ID or hostname
	Group         string `json:"group,omitempty"`
	Justification string `json:"justification"`
	Expires       string `json:"expires"` // RFC 3339 time, or a duration such as 720h
}

func (s *Server) handleRequestException(w http.ResponseWriter, r *http.Request) error {
	var req ExceptionRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	e, err := s.requestException(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.exceptionView(e))
}

// requestException validates a risk acceptance asked for by the caller in
// ctx and stores it, pending approval; the API and the console call it.
func (s *Server) requestException(ctx context.Context, req ExceptionRequest) (store.Exception, error) {
	now := s.now()
	_, org := s.org.get()
	if req.Team == "" && req.Group != "" {
		if g, err := s.findGroup(org, req.Group); err == nil {
			req.Team = g.Team
		}
	}
	if !slices.ContainsFunc(org.Teams, func(t policy.Team) bool { return t.Name == req.Team }) {
		return store.Exception{}, errBadRequest(fmt.Sprintf("team: %q is not a team (apply the organisation first)", req.Team))
	}
	if req.Group != "" {
		if _, err := s.findGroup(org, req.Group); err != nil {
			return store.Exception{}, errBadRequest(fmt.Sprintf("group: %q is not a group", req.Group))
		}
	}
	if req.Host != "" {
		id, err := s.resolveHost(ctx, req.Host)
		if err != nil {
			return store.Exception{}, errBadRequest(fmt.Sprintf("host: %q is not a host", req.Host))
		}
		req.Host = id
	}
	var expires time.Time
	if t, err := time.Parse(time.RFC3339, req.Expires); err == nil {
		expires = t
	} else if d, err := time.ParseDuration(req.Expires); err == nil {
		expires = now.Add(d)
	} else {
		return store.Exception{}, errBadRequest("expires: give an RFC 3339 time or a duration such as 720h (an expiry is mandatory)")
	}
	name, ok := s.memberRole(ctx, req.Team, policy.RoleSecurity, policy.RoleOperator, policy.RoleApprover, policy.RoleAdmin)
	if !ok {
		return store.Exception{}, errForbidden(fmt.Sprintf("%s is not a security, operator or approver member of team %s", name, req.Team))
	}
	e := store.Exception{ID: uuid.NewString(), Team: req.Team, AdvisoryID: req.Advisory, Package: req.Package, HostID: req.Host,
		Group: req.Group, Justification: strings.TrimSpace(req.Justification), RequestedBy: name, RequestedAt: now, ExpiresAt: expires.UTC()}
	if err := toPolicyException(e).Validate(now); err != nil {
		return store.Exception{}, err
	}
	auditSummary(ctx, "exception %s requested by %s for team %s: advisory %s until %s", e.ID, name, e.Team, cmpOr(e.AdvisoryID, "any"), e.ExpiresAt.Format(time.RFC3339))
	if err := s.store.CreateException(ctx, e); err != nil {
		return store.Exception{}, err
	}
	s.log.Info("exception requested", "id", e.ID, "team", e.Team, "by", name)
	return e, nil
}

func (s *Server) handleApproveException(w http.ResponseWriter, r *http.Request) error {
	e, err := s.approveException(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, 200, s.exceptionView(e))
}

// mayApproveException says whether the caller in ctx may approve e now:
// a pending exception of a team where they are approver or security (or
// a global admin), requested by someone else.
func (s *Server) mayApproveException(ctx context.Context, e store.Exception) (string, error) {
	name, roleOK := s.memberRole(ctx, e.Team, policy.RoleApprover, policy.RoleSecurity, policy.RoleAdmin)
	if _, err := toPolicyException(e).Approve(name, roleOK, s.now()); err != nil {
		switch {
		case errors.Is(err, policy.ErrSelfApproval), errors.Is(err, policy.ErrForbidden):
			return name, errForbidden(err.Error())
		case errors.Is(err, policy.ErrNotPending):
			return name, &Error{http.StatusConflict, "conflict", err.Error()}
		}
		return name, errBadRequest(err.Error())
	}
	return name, nil
}

// approveException approves an exception as the caller in ctx and applies
// it to the findings; the API and the console call it.
func (s *Server) approveException(ctx context.Context, id string) (store.Exception, error) {
	e, err := s.store.GetException(ctx, id)
	if err != nil {
		return store.Exception{}, err
	}
	name, err := s.mayApproveException(ctx, e)
	if err != nil {
		return store.Exception{}, err
	}
	auditSummary(ctx, "exception %s of team %s approved by %s", e.ID, e.Team, name)
	if err := s.store.ApproveException(ctx, e.ID, name, s.now()); err != nil {
		return store.Exception{}, err
	}
	if err := s.applyExceptions(ctx); err != nil {
		return store.Exception{}, err
	}
	e, err = s.store.GetException(ctx, e.ID)
	if err != nil {
		return store.Exception{}, err
	}
	s.log.Info("exception approved", "id", e.ID, "team", e.Team, "by", name)
	return e, nil
}

func (s *Server) handleRevokeException(w http.ResponseWriter, r *http.Request) error {
	e, err := s.revokeException(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, 200, s.exceptionView(e))
}

// mayRevokeException says whether the caller in ctx may revoke e: its
// requester, or a security or approver member of its team (or an admin).
func (s *Server) mayRevokeException(ctx context.Context, e store.Exception) error {
	if name, ok := s.memberRole(ctx, e.Team, policy.RoleSecurity, policy.RoleApprover, policy.RoleAdmin); !ok && name != e.RequestedBy {
		return errForbidden(fmt.Sprintf("%s may not revoke exceptions of team %s", name, e.Team))
	}
	return nil
}

// revokeException revokes an exception as the caller in ctx and lifts it
// from the findings; the API and the console call it.
func (s *Server) revokeException(ctx context.Context, id string) (store.Exception, error) {
	e, err := s.store.GetException(ctx, id)
	if err != nil {
		return store.Exception{}, err
	}
	if err := s.mayRevokeException(ctx, e); err != nil {
		return store.Exception{}, err
	}
	auditSummary(ctx, "exception %s of team %s revoked", e.ID, e.Team)
	if err := s.store.RevokeException(ctx, e.ID, s.now()); err != nil {
		return store.Exception{}, err
	}
	if err := s.applyExceptions(ctx); err != nil {
		return store.Exception{}, err
	}
	e, _ = s.store.GetException(ctx, e.ID)
	return e, nil
}

func (s *Server) handleListExceptions(w http.ResponseWriter, r *http.Request) error {
	es, err := s.store.ListExceptions(r.Context())
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	out := make([]ExceptionView, 0, len(es))
	for _, e := range es {
		v := s.exceptionView(e)
		if state != "" && v.State != state {
			continue
		}
		out = append(out, v)
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

// applyExceptions marks the open findings that active exceptions cover.
// An exception covers only hosts of its team, narrowed by its host and
// group.
func (s *Server) applyExceptions(ctx context.Context) error {
	es, err := s.store.ListExceptions(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	var active []store.Exception
	for _, e := range es {
		if toPolicyException(e).Active(now) && e.ExpiredAt == nil {
			active = append(active, e)
		}
	}
	var covers []store.ExceptionCover
	if len(active) > 0 {
		hosts, err := s.allHosts(ctx)
		if err != nil {
			return err
		}
		_, org := s.org.get()
		for _, e := range active {
			c := store.ExceptionCover{ID: e.ID, AdvisoryID: e.AdvisoryID, Package: e.Package, HostIDs: []string{}}
			for _, h := range hosts {
				eff := org.Effective(hostInfo(h))
				if !slices.Contains(eff.Teams, e.Team) {
					continue
				}
				if e.HostID != "" && e.HostID != h.ID {
					continue
				}
				if e.Group != "" && !slices.Contains(eff.Groups, e.Group) {
					continue
				}
				c.HostIDs = append(c.HostIDs, h.ID)
			}
			covers = append(covers, c)
		}
	}
	_, err = s.store.ApplyExceptions(ctx, "", covers)
	return err
}

// exceptionLoop expires exceptions every minute.
func (s *Server) exceptionLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.ExpireExceptions(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire exceptions", "err", err)
			}
		}
	}
}

// ExpireExceptions ends the exceptions whose expiry has passed: their
// findings come back in every list and the team's owners are told.
func (s *Server) ExpireExceptions(ctx context.Context) error {
	now := s.now()
	// Each expiry's audit entry commits with it.
	expired, err := s.store.ExpireExceptions(store.WithAudit(ctx, store.NewPendingAudit()), now)
	if err != nil || len(expired) == 0 {
		return err
	}
	if err := s.applyExceptions(ctx); err != nil {
		return err
	}
	// Their owners are told by the notification watch (notify_watch.go),
	// which sees the stored expiry: now, and again after a crash.
	return s.observeNotifications(ctx)
}

func describeSelector(e store.Exception) string {
	var parts []string
	for k, v := range map[string]string{"advisory": e.AdvisoryID, "package": e.Package, "host": e.HostID, "group": e.Group} {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
