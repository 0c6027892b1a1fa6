package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/audit"

	"github.com/patchbay/patchbay/internal/store"
)

// auditTransition describes a change's transition on the audit entry of
// the request (or console action) making it: "change X approved by
// alice, plan digest …; state submitted → approved". The plan digest
// (SHA-256 of the stored plan) pins what exactly was approved or started.
func auditTransition(ctx context.Context, c store.Change, before map[string]string, actor, detail string) {
	setAuditDiff(ctx, before, map[string]string{"state": c.State, "approved_by": c.ApprovedBy, "detail": detail})
	msg := fmt.Sprintf("change %s %s by %s, plan digest %s; state %s → %s", c.ID, c.State, actor, planDigest(c.Plan), before["state"], c.State)
	if detail != "" {
		msg += ": " + detail
	}
	auditSummary(ctx, "%s", msg)
}

// planDigest is the SHA-256 of a change's stored plan, shortened.
func planDigest(plan []byte) string {
	sum := sha256.Sum256(plan)
	return hex.EncodeToString(sum[:8])
}

// engineAuditEntries are the audit entries of one engine step: the step
// itself when it changed the change's state or recorded an event, and one
// per job it dispatched.
func engineAuditEntries(c store.Change, prevState string, ev *store.ChangeEvent, jobs []store.Job, now time.Time) []audit.Entry {
	var es []audit.Entry
	if ev != nil || c.State != prevState {
		e := audit.Entry{Time: now, Actor: "engine", Action: "change.step", Target: "change " + c.ID, Outcome: "ok"}
		if c.State != prevState {
			e.Before, _ = json.Marshal(map[string]string{"state": prevState})
			e.After, _ = json.Marshal(map[string]string{"state": c.State})
		}
		e.Summary = fmt.Sprintf("engine step of change %s (state %s)", c.ID, c.State)
		if ev != nil {
			// The dispatches have entries of their own; a long detail is cut.
			d := ev.Detail
			if len(d) > 500 {
				d = strings.ToValidUTF8(d[:500], "") + "…"
			}
			e.Summary += ": " + d
		}
		es = append(es, e)
	}
	for _, j := range jobs {
		e := auditEntryForDispatch(j)
		e.Time = now
		e.Summary = fmt.Sprintf("%s job %s for host %s of change %s dispatched", j.Phase, j.ID, j.HostID, j.ChangeID)
		es = append(es, e)
	}
	return es
}
