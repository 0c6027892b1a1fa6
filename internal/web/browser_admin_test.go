package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSettingsReportsAndDashboardInChromium visits the dashboard, the
// reports page and the settings page in real headless Chromium as an
// admin: the charts draw, a created API token is shown once, the password
// change form works, and the browser reports no CSP violation, script
// error or dialog. With UPDATE_SCREENSHOTS=1 it saves dashboard.png,
// reports.png, settings.png (and reports-default.png, settings-token.png) in testdata/screenshots.
func TestSettingsReportsAndDashboardInChromium(t *testing.T) {
	e, br := newChromiumEnv(t, 5*time.Minute)
	srv := e.srv
	ctx, run, text, screenshot := br.Ctx, br.Run, br.Text, br.Screenshot
	count := func(sel string) int {
		t.Helper()
		return br.Eval(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
	}
	// waitText waits until sel's text contains want, surviving reloads.
	waitText := func(sel, want string) {
		t.Helper()
		br.WaitText(sel, want, 20*time.Second)
	}

	br.SignIn(srv.URL, "admin", fakePassword)
	run("see the dashboard", chromedp.WaitVisible(chromedp.ID("risk-cards")))
	if got := text("#coverage"); got != "66.7%" {
		t.Errorf("the dashboard shows coverage %q", got)
	}
	if n := count("#dashboard-mttp polyline"); n < 1 {
		t.Errorf("the mean-time-to-patch chart draws %d lines", n)
	}
	if got := text("#overdue-owners"); !strings.Contains(got, xssHostname) {
		t.Errorf("the hostile owner does not show as text: %q", got)
	}
	screenshot("dashboard")

	run("open the reports",
		chromedp.Click(chromedp.CSS(`nav a[href="/reports"]`)),
		chromedp.WaitVisible(chromedp.ID("report-summary")),
	)
	if n := count(".charts svg polyline"); n < 3 {
		t.Errorf("the report's charts draw %d lines, want at least 3", n)
	}
	screenshot("reports-default") // also waits for the page to settle before the form is changed
	run("narrow the report",
		chromedp.SetValue(chromedp.ID("from"), "2026-10-27"),
		chromedp.SetValue(chromedp.ID("to"), "2026-11-24"),
		chromedp.SetValue(chromedp.ID("group"), "web"),
		chromedp.Click(chromedp.ID("show-report")),
	)
	waitText("#report-period", "2026-10-27 to 2026-11-24")
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("download-csv").getAttribute("href")`))
	if err != nil || !strings.Contains(href, "group=web") {
		t.Errorf("the CSV link %q (%v) does not carry the scope", href, err)
	}
	screenshot("reports")

	run("open the settings",
		chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)),
		chromedp.WaitVisible(chromedp.ID("users")),
	)
	if got := text("#feeds"); !strings.Contains(got, "503 Service Unavailable") {
		t.Errorf("the feeds table reads %q", got)
	}
	screenshot("settings")
	run("create an API token",
		chromedp.SendKeys(chromedp.ID("token-name"), "nightly export"),
		chromedp.SetValue(chromedp.ID("token-role"), "auditor"),
		chromedp.Click(chromedp.ID("create-token")),
		chromedp.WaitVisible(chromedp.ID("secret-value")),
	)
	secret := text("#secret-value")
	if !strings.HasPrefix(secret, "PBT1.") {
		t.Errorf("the shown secret is %q", secret)
	}
	screenshot("settings-token")
	run("reload the settings", chromedp.Navigate(srv.URL+"/settings"), chromedp.WaitVisible(chromedp.ID("api-tokens")))
	if got := text("#api-tokens"); !strings.Contains(got, "nightly export") || strings.Contains(got, secret) {
		t.Errorf("the token list reads %q: want the token without its secret", got)
	}
	if n := count("#secret-value"); n != 0 {
		t.Error("the secret is shown again after a reload")
	}
	const next = "correct horse battery staple two"
	run("change my password",
		chromedp.SendKeys(chromedp.ID("current"), fakePassword),
		chromedp.SendKeys(chromedp.ID("new"), next),
		chromedp.SendKeys(chromedp.ID("confirm"), next),
		chromedp.Click(chromedp.ID("change-password")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if got := text("#done"); !strings.Contains(got, "other sessions have been signed out") {
		t.Errorf("after the password change the page says %q", got)
	}

	if p := br.Problems(); len(p) > 0 {
		t.Errorf("the browser reported problems on the console's pages:\n%s", strings.Join(p, "\n"))
	}
}
