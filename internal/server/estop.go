package server

import (
	"context"
	"fmt"
	"github.com/patchbay/patchbay/internal/api"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

const flagEmergencyStop = "emergency-stop"

// handleEmergencyStop halts every running change at once and keeps the
// engine from dispatching anything until a second user releases it.
func (s *Server) handleEmergencyStop(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, 64<<10, &req); err != nil {
			return err
		}
	}
	ctx := r.Context()
	who := principalName(ctx, s)
	if strings.TrimSpace(req.Reason) == "" {
		req.Reason = "emergency stop"
	}
	auditSummary(ctx, "emergency stop pulled by %s: %s", who, req.Reason)
	// The flag and the withdrawal of every job not yet delivered are one
	// transaction: once it is in, no host gets a job of any change.
	now := s.now()
	stop := notify.Event{ID: "estop:" + strconv.FormatInt(now.UnixMilli(), 10), Kind: notify.EmergencyStop, At: now, Actor: who,
		Subject: "Emergency stop pulled by " + who, Text: req.Reason + "\nEvery running change is halted and no job is sent until a second user releases the stop.", Link: "/"}
	withdrawn, err := s.store.SetFlagWithdrawingJobs(s.notifying(ctx, stop), store.Flag{Name: flagEmergencyStop, On: true, By: who, At: now, Note: req.Reason})
	if err != nil {
		return err
	}
	cs, err := s.store.ListChanges(ctx, ChangeRunning)
	if err != nil {
		return err
	}
	halted := 0
	for _, c := range cs {
		if _, err := s.transition(ctx, c.ID, s.changeActionFn(ctx, change.EmergencyStop, actionArgs{Reason: req.Reason})); err == nil {
			halted++
		}
	}
	s.log.Warn("EMERGENCY STOP", "by", who, "reason", req.Reason, "changes_halted", halted, "jobs_withdrawn", withdrawn)
	return writeJSON(w, 200, api.EmergencyStop{Stopped: true, By: who, ChangesHalted: halted, JobsWithdrawn: withdrawn})
}

// handleReleaseEmergencyStop lets the engine dispatch again; it needs a
// second user (a token acting as a user), not the one who stopped. Halted changes stay halted until
// each is resumed.
func (s *Server) handleReleaseEmergencyStop(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := s.store.GetFlag(ctx, flagEmergencyStop)
	if err != nil {
		return err
	}
	if !f.On {
		return &Error{http.StatusConflict, "conflict", "no emergency stop is in force"}
	}
	// Releasing is the second person's check: it needs a user, and one
	// other than who pulled the stop. A token without a user is no person,
	// so it can never be that second user.
	if principalFrom(ctx).UserID == "" {
		return errForbidden(fmt.Sprintf("%s acts as no user; releasing the emergency stop needs a second user's own token or sign-in", principalName(ctx, s)))
	}
	who := principalName(ctx, s)
	if who == f.By {
		return errForbidden(fmt.Sprintf("%s pulled the emergency stop; another user must release it", who))
	}
	setAuditDiff(ctx, map[string]any{"stopped": true, "by": f.By}, map[string]any{"stopped": false, "by": who})
	auditSummary(ctx, "emergency stop pulled by %s released by %s", f.By, who)
	now := s.now()
	release := notify.Event{ID: "estop-release:" + strconv.FormatInt(now.UnixMilli(), 10), Kind: notify.EmergencyRelease, At: now, Actor: who,
		Subject: "Emergency stop released by " + who, Text: fmt.Sprintf("The emergency stop %s pulled is released; halted changes stay halted until resumed.", f.By), Link: "/changes"}
	if err := s.store.SetFlag(s.notifying(ctx, release), store.Flag{Name: flagEmergencyStop, On: false, By: who, At: now, Note: "released"}); err != nil {
		return err
	}
	// Record the release on every stopped change; each stays halted (or
	// rolling back) until resumed.
	if cs, err := s.store.ListChanges(ctx, ChangeHalted, string(change.RollingBack)); err == nil {
		for _, c := range cs {
			_, _ = s.transition(ctx, c.ID, s.changeActionFn(ctx, change.Release, actionArgs{}))
		}
	}
	return writeJSON(w, 200, api.EmergencyStop{Stopped: false, ReleasedBy: who})
}

func (s *Server) emergencyStopped(ctx context.Context) bool {
	f, err := s.store.GetFlag(ctx, flagEmergencyStop)
	return err != nil || f.On // fail closed
}
