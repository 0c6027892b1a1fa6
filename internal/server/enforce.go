package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
)

// Enforcement (docs/policy.md#enforcement): every minute, on one replica,
// each host whose group quarantines is checked against the group's rule.
// A non-compliant host is quarantined once (a quarantine job running the
// group's hook, never during a freeze); a quarantined host is released
// (a release job running the same hook) once it is compliant again, its
// findings are excepted, or its group no longer quarantines. The host's
// state, its job, the audit entry and the notification commit together
// (store.SetQuarantined), so a crash or a second replica sends nothing twice.

const leaseEnforcement = "enforcement"

// enforcementJobTTL is how long a quarantine or release job waits for an
// agent that is not checking in.
const enforcementJobTTL = 7 * 24 * time.Hour

func (s *Server) enforcementLoop(ctx context.Context) {
	s.every(ctx, leaseEnforcement, time.Minute, time.Minute, func(ctx context.Context) {
		if err := s.Enforce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("enforce policy", "err", err)
		}
	})
}

// quarantineRule is the rule that quarantines a host: the first of its
// groups, by name, whose action is quarantine; nil when none is.
func quarantineRule(org *policy.Org, h store.Host) (*policy.Enforcement, []string) {
	groups := org.GroupsOf(hostInfo(h))
	slices.SortFunc(groups, func(a, b *policy.Group) int { return strings.Compare(a.Name, b.Name) })
	var names []string
	var rule *policy.Enforcement
	for _, g := range groups {
		names = append(names, g.Name)
		if rule == nil && g.Enforcement != nil && g.Enforcement.Action == policy.EnforceQuarantine {
			rule = g.Enforcement
		}
	}
	return rule, names
}

// Enforce applies the groups' quarantine rules once.
func (s *Server) Enforce(ctx context.Context) error {
	now := s.now()
	_, org := s.org.get()
	states, err := s.store.Quarantines(ctx)
	if err != nil {
		return err
	}
	if len(states) == 0 && !slices.ContainsFunc(org.Groups, func(g policy.Group) bool {
		return g.Enforcement != nil && g.Enforcement.Action == policy.EnforceQuarantine
	}) {
		return nil
	}
	overdue, err := s.overdueFindings(ctx, now)
	if err != nil {
		return err
	}
	hosts, err := s.allHosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		rule, groups := quarantineRule(org, h)
		q := states[h.ID]
		var why []string
		if rule != nil {
			for _, f := range overdue[h.ID] {
				ef := policy.EnforcedFinding{Severity: f.Severity, KEV: f.KEV, Due: *f.DueAt, Open: true, Excepted: f.ExceptionID != ""}
				if rule.Counts(ef, now) {
					why = append(why, f.AdvisoryID)
				}
			}
		}
		eff := org.Effective(hostInfo(h))
		var freezes []schedule.Freeze
		for _, team := range eff.Teams {
			freezes = append(freezes, freezesFor(org, team)...)
		}
		if len(eff.Teams) == 0 {
			freezes = freezesFor(org, "")
		}
		_, frozen := schedule.FrozenAt(freezes, now)
		switch policy.DecideQuarantine(rule, len(why) > 0, q.Active(), frozen) {
		case policy.StepQuarantine:
			slices.Sort(why)
			why = slices.Compact(why)
			reason := fmt.Sprintf("%d advisories past due and grace: %s", len(why), strings.Join(why, ", "))
			err = s.setQuarantine(ctx, h, groups, true, rule.Hook, reason, now)
		case policy.StepRelease:
			reason := "compliant again"
			switch {
			case rule == nil:
				reason = "its groups no longer quarantine"
			case len(why) > 0:
				reason = "its group no longer quarantines"
			}
			err = s.setQuarantine(ctx, h, groups, false, q.Hook, reason, now)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("host %s: %w", h.ID, err)
		}
	}
	return nil
}

// overdueFindings are the open, not excepted findings past due now, by host.
func (s *Server) overdueFindings(ctx context.Context, now time.Time) (map[string][]store.Finding, error) {
	no := false
	out := map[string][]store.Finding{}
	f := store.FindingFilter{Overdue: &now, Excepted: &no, Limit: 1000}
	for {
		fs, next, err := s.store.ListFindings(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, x := range fs {
			if x.DueAt != nil {
				out[x.HostID] = append(out[x.HostID], x)
			}
		}
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}

// setQuarantine stores the start (on) or end of h's quarantine with its
// job, audit entry and notification, in one transaction.
func (s *Server) setQuarantine(ctx context.Context, h store.Host, groups []string, on bool, hook, reason string, now time.Time) error {
	action, kind, verb := protocol.ActionRelease, notify.HostReleased, "released"
	if on {
		action, kind, verb = protocol.ActionQuarantine, notify.HostQuarantined, "quarantined"
	}
	phase := string(action) + "-" + strconv.FormatInt(now.UnixMilli(), 10)
	job := protocol.Job{ID: jobID("", h.ID, phase), HostID: h.ID, NotBefore: now.Add(-time.Minute), Expires: now.Add(enforcementJobTTL),
		Action: action, Name: hook}
	sj := store.Job{ID: job.ID, HostID: h.ID, Phase: phase, Sign: func(seq uint64) ([]byte, error) {
		j := job
		j.Seq = seq
		env, err := protocol.SignJob(s.jobKey, j)
		if err != nil {
			return nil, err
		}
		return json.Marshal(env)
	}}
	summary := fmt.Sprintf("host %s %s through hook %s: %s", h.Hostname, verb, hook, reason)
	actx := store.WithAudit(ctx, store.NewPendingAudit(audit.Entry{Time: now, Actor: "enforcement", Action: "host." + string(action),
		Target: "host " + h.ID, Outcome: "ok", Summary: summary}))
	actx = s.notifying(actx, notify.Event{ID: phase + ":" + h.ID, Kind: kind, At: now, Host: h.ID, Groups: groups, Link: "/hosts/" + h.ID,
		Subject: fmt.Sprintf("Host %s %s", h.Hostname, verb),
		Text:    fmt.Sprintf("%s (%s) was %s by policy enforcement through its hook %q: %s.", h.Hostname, h.ID, verb, hook, reason)})
	if err := s.store.SetQuarantined(actx, h.ID, on, hook, reason, sj, now); err != nil {
		return err
	}
	s.log.Info("host "+verb, "host", h.ID, "hook", hook, "reason", reason)
	return nil
}
