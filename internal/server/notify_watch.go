package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// Events that are states rather than transitions (a host is stale, a
// finding is overdue, an exception expires soon) are observed: a loop looks
// at the stored state every minute and writes the messages of what it
// sees. Each occurrence has an ID derived from the state (the host's last
// check-in, the set of overdue findings), and the outbox stores a message
// key once, so an occurrence is told once however often it is seen, by
// however many replicas, and one missed by a crash is seen on the next pass.

// outboxRetention is how long delivered and dead messages stay in the
// delivery log.
const outboxRetention = 90 * 24 * time.Hour

// exceptionExpiringDays is how far ahead exception owners are warned.
const exceptionExpiringDays = 7

func (s *Server) notifyWatchLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.observeNotifications(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("observe notification events", "err", err)
			}
		}
	}
}

// observeNotifications writes the messages of every state event that
// holds now.
func (s *Server) observeNotifications(ctx context.Context) error {
	now := s.now()
	if _, err := s.store.PruneOutbox(ctx, now.Add(-outboxRetention)); err != nil {
		return err
	}
	if err := s.refreshEmailRecipients(ctx); err != nil {
		return err
	}
	var evs []notify.Event
	for _, f := range []func(context.Context, time.Time) ([]notify.Event, error){s.exceptionEvents, s.staleHostEvents, s.findingEvents, s.escalationEvents} {
		e, err := f(ctx, now)
		if err != nil {
			return err
		}
		evs = append(evs, e...)
	}
	var msgs []store.OutboxMessage
	for _, ev := range evs {
		msgs = append(msgs, s.outboxMessages(ev)...)
	}
	if len(msgs) == 0 {
		return nil
	}
	return s.store.EnqueueOutbox(ctx, msgs...)
}

func (s *Server) exceptionEvents(ctx context.Context, now time.Time) ([]notify.Event, error) {
	es, err := s.store.ListExceptions(ctx)
	if err != nil {
		return nil, err
	}
	var out []notify.Event
	for _, e := range es {
		if e.ApprovedAt == nil || e.RevokedAt != nil {
			continue
		}
		ev := notify.Event{At: now, Exception: e.ID, Teams: []string{e.Team}, Author: e.RequestedBy, Link: "/exceptions"}
		if e.Group != "" {
			ev.Groups = []string{e.Group}
		}
		switch {
		case e.ExpiredAt != nil && now.Sub(*e.ExpiredAt) < exceptionExpiringDays*24*time.Hour:
			ev.ID, ev.Kind = "exception:"+e.ID, notify.ExceptionExpired
			ev.Subject = fmt.Sprintf("Risk acceptance %s for team %s expired", e.ID, e.Team)
			ev.Text = fmt.Sprintf("The exception (%s) expired at %s; its findings are open again. Justification was: %s",
				describeSelector(e), e.ExpiresAt.UTC().Format(time.RFC3339), e.Justification)
		case e.ExpiredAt == nil && e.ExpiresAt.Sub(now) < exceptionExpiringDays*24*time.Hour:
			ev.ID, ev.Kind = "exception:"+e.ID+":"+strconv.FormatInt(e.ExpiresAt.UnixMilli(), 10), notify.ExceptionExpiring
			ev.Subject = fmt.Sprintf("Risk acceptance %s for team %s expires on %s", e.ID, e.Team, e.ExpiresAt.UTC().Format("2006-01-02"))
			ev.Text = fmt.Sprintf("The exception (%s) expires at %s; its findings open again then. Patch, or request a new exception.",
				describeSelector(e), e.ExpiresAt.UTC().Format(time.RFC3339))
		default:
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// hostGroups names the groups a host is in.
func hostGroups(org *policy.Org, h store.Host) []string {
	var out []string
	for _, g := range org.GroupsOf(policy.HostInfo{ID: h.ID, Hostname: h.Hostname, HostnameShared: h.HostnameShared, Labels: h.EffectiveLabels()}) {
		out = append(out, g.Name)
	}
	return out
}

func (s *Server) staleHostEvents(ctx context.Context, now time.Time) ([]notify.Event, error) {
	before := now.Add(-s.staleAfter())
	hosts, _, err := s.store.ListHosts(ctx, store.HostFilter{SeenBefore: &before, Limit: 1000})
	if err != nil {
		return nil, err
	}
	_, org := s.org.get()
	var out []notify.Event
	for _, h := range hosts {
		groups := hostGroups(org, h)
		if len(groups) == 0 {
			continue // nobody owns it: nobody to tell
		}
		out = append(out, notify.Event{ID: "host:" + h.ID + ":" + strconv.FormatInt(h.LastSeenAt.UnixMilli(), 10), Kind: notify.HostStale, At: now,
			Subject: fmt.Sprintf("Host %s has not checked in since %s", h.Hostname, h.LastSeenAt.UTC().Format(time.RFC3339)),
			Text:    fmt.Sprintf("%s (%s) last checked in at %s; its agent may be stopped or unable to reach the server.", h.Hostname, h.ID, h.LastSeenAt.UTC().Format(time.RFC3339)),
			Link:    "/hosts/" + h.ID, Host: h.ID, Groups: groups})
	}
	return out, nil
}

// findingEvents: per host, its overdue findings (told again when the set
// grows), and each KEV finding first seen in the last day.
func (s *Server) findingEvents(ctx context.Context, now time.Time) ([]notify.Event, error) {
	no, yes := false, true
	overdue, _, err := s.store.ListFindings(ctx, store.FindingFilter{Overdue: &now, Excepted: &no, Limit: 1000})
	if err != nil {
		return nil, err
	}
	kev, _, err := s.store.ListFindings(ctx, store.FindingFilter{KEV: &yes, Excepted: &no, Limit: 1000})
	if err != nil {
		return nil, err
	}
	_, org := s.org.get()
	groups := map[string][]string{}
	groupsOf := func(hostID string) []string {
		if g, ok := groups[hostID]; ok {
			return g
		}
		if h, err := s.store.GetHost(ctx, hostID); err == nil {
			groups[hostID] = hostGroups(org, h)
		}
		return groups[hostID]
	}
	byHost := map[string][]store.Finding{}
	for _, f := range overdue {
		byHost[f.HostID] = append(byHost[f.HostID], f)
	}
	var out []notify.Event
	for _, hostID := range slices.Sorted(maps.Keys(byHost)) {
		fs := byHost[hostID]
		g := groupsOf(hostID)
		if len(g) == 0 {
			continue
		}
		ids := make([]string, len(fs))
		names := make([]string, 0, min(len(fs), 10))
		for i, f := range fs {
			ids[i] = f.ID
			if i < 10 {
				names = append(names, fmt.Sprintf("%s (due %s)", f.AdvisoryID, f.DueAt.UTC().Format("2006-01-02")))
			}
		}
		slices.Sort(ids)
		sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
		text := strings.Join(names, ", ")
		if len(fs) > len(names) {
			text += fmt.Sprintf(" and %d more", len(fs)-len(names))
		}
		out = append(out, notify.Event{ID: "overdue:" + hostID + ":" + hex.EncodeToString(sum[:8]), Kind: notify.FindingOverdue, At: now,
			Subject: fmt.Sprintf("%d findings past due on %s", len(fs), fs[0].Hostname), Text: text,
			Link: "/hosts/" + hostID, Host: hostID, Groups: g})
	}
	for _, f := range kev {
		if now.Sub(f.FirstSeenAt) > 24*time.Hour {
			continue
		}
		g := groupsOf(f.HostID)
		if len(g) == 0 {
			continue
		}
		out = append(out, notify.Event{ID: "kev:" + f.ID, Kind: notify.FindingKEV, At: now,
			Subject: fmt.Sprintf("Known exploited vulnerability %s on %s", f.AdvisoryID, f.Hostname),
			Text:    fmt.Sprintf("%s affects %s on %s and is in CISA's Known Exploited Vulnerabilities catalog.", f.AdvisoryID, f.Name, f.Hostname),
			Link:    "/hosts/" + f.HostID, Host: f.HostID, Advisory: f.AdvisoryID, Groups: g})
	}
	return out, nil
}

// feedFailedEvent is the event of a failed feed sync at now.
func feedFailedEvent(name, origin, msg string, now time.Time) notify.Event {
	return notify.Event{ID: "feed:" + name + ":" + strconv.FormatInt(now.UnixMilli(), 10), Kind: notify.FeedSyncFailed, At: now,
		Subject: fmt.Sprintf("Feed %s failed to sync", name), Text: fmt.Sprintf("%s (%s): %s", name, origin, msg), Link: "/settings", Feed: name}
}
