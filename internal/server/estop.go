package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/patchbay/patchbay/internal/rollout"
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
	if err := s.store.SetFlag(ctx, store.Flag{Name: flagEmergencyStop, On: true, By: who, At: s.now(), Note: req.Reason}); err != nil {
		return err
	}
	cs, err := s.store.ListChanges(ctx, ChangeRunning)
	if err != nil {
		return err
	}
	halted := 0
	for _, c := range cs {
		_, err := s.transition(ctx, c.ID, func(c *store.Change, actor string) (string, error) {
			if c.State != ChangeRunning {
				return "", wrongState(c, ChangeRunning)
			}
			if err := haltEngine(c, s, "emergency stop by "+actor+": "+req.Reason); err != nil {
				return "", err
			}
			return "emergency stop by " + actor + ": " + req.Reason, nil
		})
		if err == nil {
			halted++
		}
	}
	s.log.Warn("EMERGENCY STOP", "by", who, "reason", req.Reason, "changes_halted", halted)
	return writeJSON(w, 200, map[string]any{"stopped": true, "by": who, "changes_halted": halted})
}

func haltEngine(c *store.Change, s *Server, reason string) error {
	var st rollout.State
	if err := json.Unmarshal(c.Engine, &st); err != nil {
		return err
	}
	if err := st.Halt(s.now(), reason); err != nil {
		return err
	}
	b, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	c.Engine, c.State = b, ChangeHalted
	return nil
}

// handleReleaseEmergencyStop lets the engine dispatch again; it needs a
// second user, not the one who stopped. Halted changes stay halted until
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
	who := principalName(ctx, s)
	if who == f.By {
		return errForbidden(fmt.Sprintf("%s pulled the emergency stop; another user must release it", who))
	}
	setAuditDiff(ctx, map[string]any{"stopped": true, "by": f.By}, map[string]any{"stopped": false, "by": who})
	auditSummary(ctx, "emergency stop pulled by %s released by %s", f.By, who)
	if err := s.store.SetFlag(ctx, store.Flag{Name: flagEmergencyStop, On: false, By: who, At: s.now(), Note: "released"}); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"stopped": false, "released_by": who})
}

func (s *Server) emergencyStopped(ctx context.Context) bool {
	f, err := s.store.GetFlag(ctx, flagEmergencyStop)
	return err != nil || f.On // fail closed
}
