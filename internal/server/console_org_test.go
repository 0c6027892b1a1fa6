package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// consoleUser is the console's view of a user orgServer created.
func consoleUser(name, role string) web.User {
	return web.User{ID: "u-" + name, Username: name, Role: role}
}

// auditHas fails the test for each of wants that no line "actor action
// outcome" of the audit trail holds.
func auditHas(t *testing.T, db *store.DB, wants ...string) {
	t.Helper()
	got := strings.Join(auditActions(t, db), "\n")
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("the audit trail lacks %q:\n%s", want, got)
		}
	}
}

// auditActions lists the audit trail's actions with their outcomes.
func auditActions(t *testing.T, db *store.DB) []string {
	t.Helper()
	var out []string
	if err := db.AuditRange(context.Background(), 0, 0, func(r store.AuditRecord) error {
		var e audit.Entry
		if err := json.Unmarshal(r.Entry, &e); err != nil {
			return err
		}
		out = append(out, e.Actor+" "+e.Action+" "+e.Outcome)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConsoleGroupsAndCalendarShowTheOrganisation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	b := consoleBackend{ts.Server}
	ctx := context.Background()
	groups, err := b.OrgGroups(ctx)
	if err != nil || len(groups) != 4 {
		t.Fatalf("groups: %v %+v", err, groups)
	}
	for _, g := range groups {
		if g.Name == "payments-prod" && (g.HostCount != 1 || g.Stakeholder != "carol" || len(g.NextWindows) != 1 ||
			g.NextWindows[0].Start.Format(time.RFC3339) != "2026-12-11T21:00:00Z") {
			t.Errorf("payments-prod: %+v", g)
		}
	}
	g, err := b.OrgGroup(ctx, "payments-staging", 3)
	if err != nil {
		t.Fatal(err)
	}
	// Weekday mornings 07:00 Berlin; black-friday freezes the payments
	// team until Dec 1, so the first opens on Tuesday Dec 1.
	if len(g.NextWindows) != 3 || g.NextWindows[0].Start.Format(time.RFC3339) != "2026-12-01T06:00:00Z" {
		t.Errorf("payments-staging windows: %+v", g.NextWindows)
	}
	if len(g.Members) != 3 || len(g.Freezes) != 2 || g.Windows[0].Name != "weekday-mornings" || g.Windows[0].Duration != 90*time.Minute {
		t.Errorf("payments-staging: members %+v freezes %+v windows %+v", g.Members, g.Freezes, g.Windows)
	}
	if _, err := b.OrgGroup(ctx, "nope", 3); !errors.Is(err, web.ErrNotFound) {
		t.Errorf("a missing group: %v", err)
	}
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	events, err := b.CalendarEvents(ctx, from, from.AddDate(0, 0, 14))
	if err != nil {
		t.Fatal(err)
	}
	var frozen, open, freezes int
	for _, e := range events {
		switch {
		case e.Kind == web.EventFreeze && strings.HasPrefix(e.Title, "black-friday"):
			freezes++
		case e.Kind == web.EventWindow && e.Group == "payments-staging" && e.Frozen:
			frozen++
			if e.Start.After(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("a window after the freeze is marked frozen: %+v", e)
			}
		case e.Kind == web.EventWindow && e.Group == "payments-staging":
			open++
		}
	}
	// Nov 23-24 open, Nov 25-30 frozen (4 weekdays), Dec 1-4 open.
	if freezes != 1 || frozen != 4 || open != 6 {
		t.Errorf("calendar: %d black-friday, %d frozen and %d open payments-staging windows", freezes, frozen, open)
	}
}

func TestConsoleCalendarURLsWorkAndAreAudited(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	b := consoleBackend{ts.Server}
	ctx := context.Background()
	carol := consoleUser("carol", RoleStakeholder)
	feed, path, err := b.CreateCalendarFeed(ctx, carol, "group", "payments-prod")
	if err != nil || !strings.HasPrefix(path, "/calendar/pbc_") || feed.CreatedBy != "carol" {
		t.Fatalf("create: %v %q %+v", err, path, feed)
	}
	resp, err := ts.client.Get(ts.url + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("BEGIN:VCALENDAR")) {
		t.Fatalf("the console's calendar URL answers %d", resp.StatusCode)
	}
	feeds, _ := b.CalendarFeeds(ctx)
	if len(feeds) != 1 || feeds[0].ID != feed.ID || !feeds[0].RevokedAt.IsZero() {
		t.Errorf("feeds: %+v", feeds)
	}
	if _, _, err := b.CreateCalendarFeed(ctx, carol, "team", "nope"); !errors.As(err, new(*web.FormError)) {
		t.Errorf("a calendar for a missing team: %v, want a form error", err)
	}
	if _, _, err := b.CreateCalendarFeed(ctx, consoleUser("frank", RoleAuditor), "team", "payments"); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an auditor created a calendar: %v", err)
	}
	if err := b.RevokeCalendarFeed(ctx, carol, feed.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := ts.client.Get(ts.url + path); resp.StatusCode != 404 {
		t.Errorf("the revoked URL answers %d", resp.StatusCode)
	}
	auditHas(t, ts.db, "carol console calendar.create ok", "carol console calendar.revoke ok")
}

func TestConsoleExceptionsFollowTheAPIRules(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	b := consoleBackend{ts.Server}
	ctx := context.Background()
	alice, bob, erin := consoleUser("alice", RoleOperator), consoleUser("bob", RoleApprover), consoleUser("erin", RoleSecurity)
	req := web.ExceptionRequest{Group: "payments-prod", Advisory: "A-1", Justification: "WAF rule", Expires: clock.now().Add(72 * time.Hour)}
	id, err := b.RequestException(ctx, alice, req)
	if err != nil {
		t.Fatal(err)
	}
	past := req
	past.Expires = clock.now().Add(-time.Hour)
	if _, err := b.RequestException(ctx, alice, past); !errors.As(err, new(*web.FormError)) {
		t.Errorf("an expiry in the past: %v, want a form error", err)
	}
	if _, err := b.RequestException(ctx, erin, req); !errors.Is(err, web.ErrForbidden) || !strings.Contains(err.Error(), "payments") {
		t.Errorf("a security user of another team requested: %v, want a refusal naming the team", err)
	}
	own, err := b.RequestException(ctx, bob, web.ExceptionRequest{Group: "payments-prod", Package: "bash", Justification: "legacy", Expires: clock.now().AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	can := func(u web.User) map[string][2]bool {
		es, err := b.Exceptions(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][2]bool{}
		for _, e := range es {
			m[e.ID] = [2]bool{e.CanApprove, e.CanRevoke}
		}
		return m
	}
	if c := can(bob); c[id] != [2]bool{true, true} || c[own] != [2]bool{false, true} {
		t.Errorf("bob may (approve, revoke): alice's %v, his own %v; want approve only alice's", c[id], c[own])
	}
	if c := can(erin); c[id][0] || c[id][1] {
		t.Errorf("erin, of another team, may (approve, revoke) %v", c[id])
	}
	if c := can(alice); c[id] != [2]bool{false, true} {
		t.Errorf("alice may (approve, revoke) her own request %v; want revoke only", c[id])
	}
	err = b.ExceptionAction(ctx, bob, own, "approve")
	var rf *web.Refusal
	if !errors.As(err, &rf) || !errors.Is(err, web.ErrForbidden) || !strings.Contains(rf.Reason, "another approver") {
		t.Errorf("self-approval: %v, want a refusal with the reason", err)
	}
	if err := b.ExceptionAction(ctx, bob, id, "approve"); err != nil {
		t.Fatal(err)
	}
	if err := b.ExceptionAction(ctx, bob, id, "approve"); !errors.Is(err, web.ErrConflict) {
		t.Errorf("approving twice: %v, want a conflict", err)
	}
	yes := true
	if fs, _, _ := ts.db.ListFindings(ctx, store.FindingFilter{Excepted: &yes}); len(fs) != 1 {
		t.Errorf("the approved exception covers %d findings, want 1", len(fs))
	}
	es, _ := b.Exceptions(ctx, bob)
	for _, e := range es {
		if e.ID == id && (e.State != "active" || e.ApprovedBy != "bob") {
			t.Errorf("after approval: %+v", e)
		}
	}
	if err := b.ExceptionAction(ctx, erin, id, "revoke"); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("erin revoked another team's exception: %v", err)
	}
	if err := b.ExceptionAction(ctx, alice, id, "revoke"); err != nil {
		t.Fatal(err)
	}
	auditHas(t, ts.db, "alice console exception.request ok", "bob console exception.approve error: ", "bob console exception.approve ok",
		"alice console exception.revoke ok")
}

func TestConsoleKnowledgeBaseKeepsAuthorsAndChecksPackages(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, _, _ := orgServer(t, clock)
	b := consoleBackend{ts.Server}
	ctx := context.Background()
	e := web.KBEntry{Title: "bash breaks scripts", Problem: "set -e differs", Packages: []web.KBPackage{{Name: "bash", Versions: []string{"5.1-6"}}},
		Distro: "ubuntu 22.04", Status: "draft"}
	id, err := b.SaveKBEntry(ctx, consoleUser("carol", RoleStakeholder), e)
	if err != nil {
		t.Fatal(err)
	}
	e.ID, e.Fix, e.Status = id, "pin bash", "published"
	if _, err := b.SaveKBEntry(ctx, consoleUser("alice", RoleOperator), e); err != nil {
		t.Fatal(err)
	}
	got, err := b.KBEntry(ctx, id)
	if err != nil || got.CreatedBy != "carol" || got.Status != "published" || got.Fix != "pin bash" || got.Packages[0].Versions[0] != "5.1-6" {
		t.Errorf("after edit: %v %+v", err, got)
	}
	bad := e
	bad.ID, bad.Packages = "", []web.KBPackage{{Name: "bash;reboot"}}
	if _, err := b.SaveKBEntry(ctx, consoleUser("alice", RoleOperator), bad); !errors.As(err, new(*web.FormError)) {
		t.Errorf("a bad package name: %v, want a form error", err)
	}
	if _, err := b.SaveKBEntry(ctx, consoleUser("frank", RoleAuditor), e); !errors.Is(err, web.ErrForbidden) {
		t.Errorf("an auditor wrote the knowledge base: %v", err)
	}
	if _, err := b.KBEntry(ctx, "nope"); !errors.Is(err, web.ErrNotFound) {
		t.Errorf("a missing entry: %v", err)
	}
	all, _ := b.KBEntries(ctx)
	if len(all) != 1 {
		t.Errorf("%d entries", len(all))
	}
}
