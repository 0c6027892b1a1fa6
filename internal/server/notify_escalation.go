package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// stuckStates are the change states that wait on people, with how the
// escalation says so. A change in one of them escalates from when it
// entered it.
var stuckStates = map[string]string{
	ChangePendingApproval: "has waited for approval",
	ChangeHalted:          "has been halted",
	ChangeAwaitingSignOff: "has waited for sign-off",
	ChangeRollbackFailed:  "has been left after a failed rollback",
}

// escalationEvents are the reached steps of the teams' escalation ladders
// (notify.Escalate): for each host with findings past due, from the
// oldest one's due date (a new oldest starts the ladder again), and for
// each change stuck in a waiting state, from when it entered it. The
// outbox keeps each step's message once, so a step is told once.
func (s *Server) escalationEvents(ctx context.Context, now time.Time) ([]notify.Event, error) {
	_, org := s.org.get()
	if !slices.ContainsFunc(org.Teams, func(t policy.Team) bool { return len(t.Escalation) > 0 }) {
		return nil, nil
	}
	no := false
	overdue, _, err := s.store.ListFindings(ctx, store.FindingFilter{Overdue: &now, Excepted: &no, Limit: 1000})
	if err != nil {
		return nil, err
	}
	oldest := map[string]store.Finding{}
	count := map[string]int{}
	for _, f := range overdue {
		if f.DueAt == nil {
			continue
		}
		count[f.HostID]++
		if o, ok := oldest[f.HostID]; !ok || f.DueAt.Before(*o.DueAt) || (f.DueAt.Equal(*o.DueAt) && f.ID < o.ID) {
			oldest[f.HostID] = f
		}
	}
	var out []notify.Event
	for _, hostID := range slices.Sorted(maps.Keys(oldest)) {
		f := oldest[hostID]
		h, err := s.store.GetHost(ctx, hostID)
		if err != nil {
			continue // removed meanwhile
		}
		base := notify.Event{ID: "overdue:" + hostID + ":" + f.ID, Host: hostID, Link: "/hosts/" + hostID, Groups: hostGroups(org, h),
			Subject: fmt.Sprintf("%d findings past due on %s", count[hostID], f.Hostname),
			Text:    fmt.Sprintf("%s on %s was due %s and is not patched or excepted.", f.AdvisoryID, f.Hostname, f.DueAt.UTC().Format("2006-01-02"))}
		out = append(out, notify.Escalate(base, *f.DueAt, now, org)...)
	}
	changes, err := s.store.ListChanges(ctx, slices.Sorted(maps.Keys(stuckStates))...)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		since := c.UpdatedAt
		hist, err := s.store.ChangeHistory(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, h := range hist {
			if h.Kind == c.State {
				since = h.At // the last time it entered the state
			}
		}
		var plan rollout.Plan
		_ = json.Unmarshal(c.Plan, &plan)
		var groups []string
		for _, hp := range plan.Hosts {
			groups = append(groups, hp.Group)
		}
		slices.Sort(groups)
		base := notify.Event{ID: fmt.Sprintf("stuck:%s:%s:%d", c.ID, c.State, since.UnixMilli()), Change: c.ID, Link: "/changes/" + c.ID,
			Groups: slices.Compact(groups), Author: c.Author,
			Subject: fmt.Sprintf("Change %q %s since %s", c.Title, stuckStates[c.State], since.UTC().Format("2006-01-02")),
			Text:    fmt.Sprintf("Change %s (%s) is %s.", c.ID, c.Title, c.State)}
		out = append(out, notify.Escalate(base, since, now, org)...)
	}
	return out, nil
}
