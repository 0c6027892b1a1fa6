package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
)

// This file is the email channel's part of the server: its configuration
// (flags --smtp, --smtp-user, --smtp-password, --smtp-from), who can be
// e-mailed, and the schedule a change's approval carries to stakeholders.

// EmailChannel configures the email channel ("email"): an SMTP server as
// smtp://HOST:PORT (STARTTLS, required) or smtps://HOST:PORT (implicit
// TLS), an optional account, and the sender address.
type EmailChannel struct {
	URL      string
	Username string
	Password string
	From     string
}

// check validates the channel's flags.
func (e EmailChannel) check(allow Config) error {
	if e.URL == "" {
		if e.Username != "" || e.From != "" {
			return errors.New("--smtp-user and --smtp-from configure the email channel: give --smtp too")
		}
		return nil
	}
	u, err := (delivery.Guard{Allow: allow.NotifyAllow}).CheckMailURL(e.URL)
	if err != nil {
		return fmt.Errorf("--smtp: %w (smtp://HOST:587 for STARTTLS, smtps://HOST:465 for TLS; an internal server needs --notify-allow with its address)", err)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return errors.New("--smtp: give only smtp(s)://HOST:PORT; the account goes in --smtp-user and --smtp-password")
	}
	if a, err := mail.ParseAddress(e.From); err != nil || e.From == "" {
		return fmt.Errorf("--smtp-from %q: the sender's address is required (patchbay@example.com)", e.From)
	} else if a.Name != "" {
		return fmt.Errorf("--smtp-from %q: give a bare address (patchbay@example.com)", e.From)
	}
	if e.Username == "" && e.Password != "" {
		return errors.New("--smtp-password needs --smtp-user")
	}
	return nil
}

// refreshEmailRecipients reloads who the email channel can reach: users
// with an address, refreshed each minute and when an address changes. A
// message to someone without one is not written (the delivery log would
// fill with dead letters); the worker checks the address again at delivery.
func (s *Server) refreshEmailRecipients(ctx context.Context) error {
	if !slices.Contains(s.notify.channelNames(), "email") {
		return nil
	}
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	m := map[string]bool{}
	for _, u := range us {
		if u.Email != "" && u.DisabledAt == nil {
			m[u.Username] = true
		}
	}
	s.notify.mu.Lock()
	s.notify.emailable = m
	s.notify.mu.Unlock()
	return nil
}

// reachable says whether d's recipient can be told over its channel.
func (n *notifier) reachable(d notify.Delivery) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.kinds[d.Channel] != delivery.KindEmail {
		return true
	}
	return n.emailable[d.Recipient]
}

// changeSchedule is when change c (approved or scheduled) is planned to
// run: from its start time, or the first open window of its groups
// (freezes subtracted), or, when it ignores windows and has no start time,
// nil (it starts when an operator starts it: nothing to put in a calendar).
func changeSchedule(org *policy.Org, c store.Change, now time.Time) *notify.Schedule {
	var spec ChangeSpec
	var plan rollout.Plan
	if json.Unmarshal(c.Spec, &spec) != nil || json.Unmarshal(c.Plan, &plan) != nil {
		return nil
	}
	from := now
	at, err := time.Parse(time.RFC3339, spec.Start)
	timed := err == nil
	if timed {
		from = at
	}
	if spec.IgnoreWindows {
		if !timed {
			return nil
		}
		return &notify.Schedule{Start: at, End: at.Add(time.Hour), Detail: "Starts at its start time; it ignores maintenance windows."}
	}
	var first *schedule.Occurrence
	for _, g := range org.Groups {
		if len(g.Windows) == 0 || !slices.ContainsFunc(plan.Hosts, func(h rollout.HostPlan) bool { return h.Group == g.Name }) {
			continue
		}
		var ws []schedule.Window
		for _, w := range g.Windows {
			ws = append(ws, toWindow(w))
		}
		occ, err := schedule.Next(ws, freezesFor(org, g.Team), from, 1)
		if err == nil && len(occ) == 1 && (first == nil || occ[0].Start.Before(first.Start)) {
			first = &occ[0]
		}
	}
	switch {
	case first != nil && timed && !at.Before(first.Start):
		return &notify.Schedule{Start: at, End: first.End, Detail: fmt.Sprintf("Starts at its start time, in window %s.", first.Window)}
	case first != nil:
		return &notify.Schedule{Start: first.Start, End: first.End, Detail: fmt.Sprintf("Its first wave runs in window %s.", first.Window)}
	case timed:
		return &notify.Schedule{Start: at, End: at.Add(time.Hour), Detail: "Starts at its start time."}
	}
	return nil
}
