package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestOrgPagesInChromium visits the groups, calendar, calendar
// subscription, exceptions and knowledge-base pages in real headless
// Chromium over TLS: it reads a group's owners and windows, pages the
// calendar from month to month and to a week, creates a calendar URL,
// approves an exception, sees a request refused with its reasons and then
// made, and searches, reads and publishes a knowledge-base draft; all with
// no CSP violation, script error or dialog. It saves a screenshot of each
// page (UPDATE_SCREENSHOTS=1 keeps them in testdata/screenshots).
func TestOrgPagesInChromium(t *testing.T) {
	e, br := newChromiumEnv(t, 4*time.Minute)
	srv := e.srv
	ctx, run, text, waitText, screenshot := br.Ctx, br.Run, br.Text, br.WaitText, br.Screenshot
	signIn := func(user string) { t.Helper(); br.SignIn(srv.URL, user, fakePassword) }
	signOut := func() {
		t.Helper()
		run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("username")))
	}

	// Groups and owners.
	signIn("approver")
	run("open the groups", chromedp.Click(chromedp.CSS(`nav a[href="/groups"]`)), chromedp.WaitVisible(chromedp.ID("groups")))
	if got := text("#groups"); !strings.Contains(got, "databases") || !strings.Contains(got, xssHostname) {
		t.Errorf("the group list reads %q", got)
	}
	screenshot("groups")
	run("open a group", chromedp.Click(chromedp.CSS(`#groups a[href="/groups/databases"]`)), chromedp.WaitVisible(chromedp.ID("next-windows")))
	if got := text("#group-stakeholder"); got != "stakeholder" {
		t.Errorf("the group's stakeholder is %q", got)
	}
	if got := text("#next-windows"); !strings.Contains(got, "2026-11-30 06:00 UTC") || strings.Contains(got, "2026-11-26") {
		t.Errorf("the next windows (a freeze takes Nov 26 and 27) read %q", got)
	}
	screenshot("group")

	// The calendar, month to month and to a week.
	run("open the calendar", chromedp.Click(chromedp.CSS(`nav a[href="/calendar"]`)), chromedp.WaitVisible(chromedp.ID("calendar")))
	if got := text("#calendar-title"); got != "November 2026" {
		t.Errorf("the calendar opens on %q", got)
	}
	if got := text(`#calendar td[data-date="2026-11-26"]`); !strings.Contains(got, hostileFreeze) || !strings.Contains(got, "frozen") {
		t.Errorf("Nov 26 reads %q, want the hostile-named freeze as text and a frozen window", got)
	}
	screenshot("calendar")
	run("next month", chromedp.Click(chromedp.ID("cal-next")))
	waitText("#calendar-title", "December 2026", 5*time.Second)
	if got := text(`#calendar td[data-date="2026-12-24"]`); !strings.Contains(got, "Freeze: year-end") {
		t.Errorf("Dec 24 reads %q, want the year-end freeze", got)
	}
	screenshot("calendar-december")
	run("week view", chromedp.Click(chromedp.ID("cal-other")))
	waitText("#calendar-title", "Week of Monday 30 November 2026", 5*time.Second)
	run("wait for the week", chromedp.WaitVisible(chromedp.ID("calendar")))
	screenshot("calendar-week")

	// A secret calendar URL, shown once.
	run("open the subscriptions", chromedp.Click(chromedp.ID("cal-subscribe")), chromedp.WaitVisible(chromedp.ID("target")))
	run("create a calendar URL",
		chromedp.SetValue(chromedp.ID("target"), "group:databases"),
		chromedp.Click(chromedp.ID("create-calendar")),
		chromedp.WaitVisible(chromedp.ID("calendar-url")),
	)
	url, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("calendar-url")))
	if err != nil || !strings.HasPrefix(url, srv.URL+"/calendar/pbc_") || !strings.HasSuffix(url, ".ics") {
		t.Errorf("the new calendar URL is %q (%v)", url, err)
	}
	screenshot("calendars")

	// Exceptions: the approver approves the operator's request.
	run("open the exceptions", chromedp.Navigate(srv.URL+"/exceptions"), chromedp.WaitVisible(chromedp.ID("exceptions")))
	if got := text("#expiring"); !strings.Contains(got, "CVE-2023-4911") {
		t.Errorf("expiring soon reads %q", got)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#approve-e5").length`)); err != nil || n != 0 {
		t.Errorf("the approver is offered to approve their own request (%d, %v)", n, err)
	}
	screenshot("exceptions")
	run("approve", chromedp.Click(chromedp.ID("approve-e1")))
	waitText(".notice", "Exception approved", 5*time.Second)
	if got := text("#exception-e1"); !strings.Contains(got, "active") || !strings.Contains(got, "approver") {
		t.Errorf("after approval e1 reads %q", got)
	}
	screenshot("exceptions-approved")

	// The operator requests one; the first try misses the group.
	signOut()
	signIn("operator")
	run("open the request form",
		chromedp.Navigate(srv.URL+"/exceptions"),
		chromedp.Click(chromedp.ID("request-exception")),
		chromedp.WaitVisible(chromedp.ID("justification")),
	)
	run("fill in the request without a group",
		chromedp.SendKeys(chromedp.ID("advisory"), "CVE-2024-3094"),
		chromedp.SendKeys(chromedp.ID("justification"), "Not reachable from outside; fix in the next quarter."),
		chromedp.SetValue(chromedp.ID("expires"), "2026-12-24"),
		chromedp.Click(chromedp.ID("submit-exception")),
		chromedp.WaitVisible(chromedp.ID("form-errors")),
	)
	if got := text("#form-errors"); !strings.Contains(got, "Choose the group") {
		t.Errorf("the refused request says %q", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("advisory"))); v != "CVE-2024-3094" {
		t.Errorf("the refused form lost the advisory: %q", v)
	}
	screenshot("exception-new-errors")
	// The refused form answers 400, which Chromium logs; nothing else may be there.
	for _, p := range br.Problems() {
		if !strings.Contains(p, "status of 400") || !strings.Contains(p, "/exceptions/new") {
			t.Errorf("the browser reported a problem before the refused request: %s", p)
		}
	}
	run("choose the group and submit",
		chromedp.SetValue(chromedp.ID("group"), "databases"),
		chromedp.Click(chromedp.ID("submit-exception")),
	)
	waitText(".notice", "Exception requested", 5*time.Second)
	screenshot("exception-requested")

	// The knowledge base: search, read a sign-off draft, publish it.
	searchInChromium(br, "/kb", "nginx")
	waitText("#kb-total", "1 of 2 entries", 5*time.Second)
	screenshot("kb")
	run("open the draft", chromedp.Navigate(srv.URL+"/kb?status=draft"), chromedp.Click(chromedp.CSS(`#kb a[href="/kb/k2"]`)),
		chromedp.WaitVisible(chromedp.ID("kb-problem")))
	if got := text("#kb-problem"); !strings.Contains(got, hostileKB) {
		t.Errorf("the draft's problem reads %q, want the markup as text", got)
	}
	if got := text("#kb-status"); got != "draft" {
		t.Errorf("the entry's status reads %q", got)
	}
	screenshot("kb-entry")
	run("edit and publish",
		chromedp.Click(chromedp.ID("edit-kb")),
		chromedp.WaitVisible(chromedp.ID("fix")),
		chromedp.SendKeys(chromedp.ID("fix"), "Restart the report service after the upgrade."),
		chromedp.Click(chromedp.ID("status-published")),
	)
	screenshot("kb-edit")
	run("save", chromedp.Click(chromedp.ID("save-kb")))
	waitText(".notice", "Entry saved.", 5*time.Second)
	if got := text("#kb-status"); got != "published" {
		t.Errorf("after publishing the status reads %q", got)
	}
	run("new entry form", chromedp.Navigate(srv.URL+"/kb"), chromedp.Click(chromedp.ID("new-kb")), chromedp.WaitVisible(chromedp.ID("packages")))
	screenshot("kb-new")

	if p := br.Problems(); len(p) > 0 {
		t.Errorf("the browser reported problems on the organisation pages:\n%s", strings.Join(p, "\n"))
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('img[onerror], main script').length`))
	if err != nil || injected != 0 {
		t.Errorf("elements injected by data: %d (%v)", injected, err)
	}
}
