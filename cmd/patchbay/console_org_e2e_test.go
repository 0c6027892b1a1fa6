package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleOrgPagesAgainstTheRealServer opens the groups, calendar,
// exceptions and knowledge-base pages of a real server process with the
// example organisation applied, in headless Chromium: the operator reads a
// group's owners and requests an exception, the approver approves it and
// creates a calendar URL (which then serves the calendar), writes a
// knowledge-base entry, and the admin finds the console's actions in the
// audit trail.
func TestConsoleOrgPagesAgainstTheRealServer(t *testing.T) {
	b, sp := startConsole(t, 120*time.Second)
	pw := map[string]string{}
	for _, u := range []string{"alice:operator", "bob:approver", "carol:stakeholder", "dave:admin", "erin:security", "frank:auditor"} {
		name, role, _ := strings.Cut(u, ":")
		pw[name] = strings.TrimSpace(sp.mustCLI(t, "users", "create", name, "--role", role))
	}
	admin := sp.adminPassword(t)
	org, _ := filepath.Abs("testdata/org.yaml")
	sp.mustCLI(t, "apply", "-f", org)

	// The operator reads the groups and requests an exception.
	b.signIn(sp.url, "alice", pw["alice"])
	b.Run("open the groups", chromedp.Click(chromedp.CSS(`nav a[href="/groups"]`)), chromedp.WaitVisible(chromedp.ID("groups")))
	if got := b.Text("#groups"); !strings.Contains(got, "payments-prod") || !strings.Contains(got, "carol") {
		t.Errorf("the group list reads %q", got)
	}
	b.Run("open a group", chromedp.Click(chromedp.CSS(`#groups a[href="/groups/payments-prod"]`)), chromedp.WaitVisible(chromedp.ID("group-facts")))
	if got := b.Text("#group-stakeholder"); got != "carol" {
		t.Errorf("payments-prod's stakeholder reads %q", got)
	}
	if got := b.Text("#window-rules"); !strings.Contains(got, "patch-tuesday") || !strings.Contains(got, "Europe/Berlin") {
		t.Errorf("payments-prod's window rules read %q", got)
	}
	b.Screenshot("real-group")
	b.Run("open the calendar", chromedp.Click(chromedp.CSS(`nav a[href="/calendar"]`)), chromedp.WaitVisible(chromedp.ID("calendar")))
	if got := b.Text("#calendar"); !strings.Contains(got, "daily") {
		t.Errorf("the calendar lacks canary's daily window: %.300s", got)
	}
	b.Screenshot("real-calendar")
	expires := time.Now().UTC().AddDate(0, 0, 30).Format("2006-01-02")
	b.Run("request an exception",
		chromedp.Navigate(sp.url+"/exceptions/new"), chromedp.WaitVisible(chromedp.ID("justification")),
		chromedp.SendKeys(chromedp.ID("advisory"), "CVE-2024-3094"),
		chromedp.SetValue(chromedp.ID("group"), "payments-prod"),
		chromedp.SendKeys(chromedp.ID("justification"), "The vulnerable service is not installed on these hosts."),
		chromedp.SetValue(chromedp.ID("expires"), expires),
		chromedp.Click(chromedp.ID("submit-exception")))
	b.WaitText(".notice", "Exception requested", 10*time.Second)
	if n := b.Eval(`document.querySelectorAll('#exceptions button[id^="approve-"]').length`); n != 0 {
		t.Errorf("the operator is offered %d approve buttons", n)
	}

	// The approver approves it and subscribes to the team's calendar.
	b.signIn(sp.url, "bob", pw["bob"])
	b.Run("open the exceptions", chromedp.Navigate(sp.url+"/exceptions?state=pending"), chromedp.WaitVisible(chromedp.ID("exceptions")))
	b.Run("approve", chromedp.Click(chromedp.CSS(`#exceptions button[id^="approve-"]`)))
	b.WaitText(".notice", "Exception approved", 10*time.Second)
	if got := b.Text("#exceptions"); !strings.Contains(got, "active") || !strings.Contains(got, "bob") {
		t.Errorf("after approval the exceptions read %q", got)
	}
	b.Screenshot("real-exceptions")
	b.Run("create a calendar URL", chromedp.Navigate(sp.url+"/calendars"), chromedp.WaitVisible(chromedp.ID("target")),
		chromedp.SetValue(chromedp.ID("target"), "team:payments"), chromedp.Click(chromedp.ID("create-calendar")),
		chromedp.WaitVisible(chromedp.ID("calendar-url")))
	icsURL, err := chromedp.Run(b.Ctx, chromedp.Value(chromedp.ID("calendar-url")))
	if err != nil || !strings.HasPrefix(icsURL, sp.url+"/calendar/pbc_") {
		t.Fatalf("the calendar URL is %q (%v)", icsURL, err)
	}
	ics, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`fetch(`+quoteJS(icsURL)+`).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(ics, "BEGIN:VCALENDAR") || !strings.Contains(ics, "patch-tuesday") {
		t.Errorf("the calendar URL serves %.200q (%v)", ics, err)
	}
	b.Run("write a knowledge-base entry", chromedp.Navigate(sp.url+"/kb/new"), chromedp.WaitVisible(chromedp.ID("packages")),
		chromedp.SendKeys(chromedp.ID("title"), "openssl 3.0.2 breaks legacy ciphers"),
		chromedp.SendKeys(chromedp.ID("problem"), "Payment terminals using RC4 fail the handshake."),
		chromedp.SendKeys(chromedp.ID("packages"), "openssl 3.0.2-0ubuntu1.15"),
		chromedp.Click(chromedp.ID("status-published")),
		chromedp.Click(chromedp.ID("save-kb")))
	b.WaitText(".notice", "Entry saved.", 10*time.Second)
	b.Run("search it", chromedp.Navigate(sp.url+"/kb?q=rc4"), chromedp.WaitVisible(chromedp.ID("kb")))
	if got := b.Text("#kb"); !strings.Contains(got, "openssl 3.0.2 breaks legacy ciphers") {
		t.Errorf("the search reads %q", got)
	}
	b.Screenshot("real-kb")

	// The admin finds the console's actions in the audit trail.
	b.signIn(sp.url, "admin", admin)
	b.Run("read the audit log", chromedp.Navigate(sp.url+"/audit?limit=200"), chromedp.WaitVisible(chromedp.ID("audit")))
	got := b.Text("#audit")
	for _, want := range []string{"console exception.request", "console exception.approve", "console calendar.create", "console kb.create"} {
		if !strings.Contains(got, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported: %q", p)
	}
}

// quoteJS quotes s as a JavaScript string literal.
func quoteJS(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
