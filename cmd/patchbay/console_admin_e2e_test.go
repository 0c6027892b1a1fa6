package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleSettingsAndReportsAgainstTheRealServer drives the settings,
// reports and dashboard of a real server process in headless Chromium: the
// admin creates an enrollment token a real agent then enrolls with and an
// API token the CLI then uses, both shown once; revoking the API token
// locks the CLI out; the report and its printable page (with its own
// policy) render; an operator changes their password and signs in with it;
// the CLI then changes her role and disables her, which the console obeys.
func TestConsoleSettingsAndReportsAgainstTheRealServer(t *testing.T) {
	b, sp := startConsole(t, 120*time.Second)
	opPassword := strings.TrimSpace(sp.mustCLI(t, "users", "create", "olga", "--role", "operator"))
	admin := sp.adminPassword(t)
	b.signIn(sp.url, "admin", admin)
	if b.Eval(`document.querySelectorAll("#risk-cards li").length`) == 0 {
		t.Error("the dashboard has no risk and SLA cards")
	}

	// An enrollment token made in the console enrolls a real agent.
	b.Run("open the settings", chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)), chromedp.WaitVisible(chromedp.ID("enroll-form")))
	b.Run("create an enrollment token",
		chromedp.SetValue(chromedp.ID("max-hosts"), "1"),
		chromedp.SendKeys(chromedp.ID("enroll-labels"), "env=e2e"),
		chromedp.Click(chromedp.ID("create-enroll")),
		chromedp.WaitVisible(chromedp.ID("secret-value")),
	)
	enroll := b.Text("#secret-value")
	if out, err := sp.agentRun(t, t.TempDir(), ubuntuRoot(t, "settings-e2e-1"), enroll); err != nil {
		t.Fatalf("the agent did not enroll with the console's token: %v\n%s", err, out)
	}
	if hosts := sp.hosts(t); len(hosts) != 1 || hosts[0].UserLabels["env"] != "e2e" {
		t.Errorf("hosts after enrolling: %+v", hosts)
	}

	// An API token made in the console works for the CLI until revoked.
	// (From a fresh page: the last one still shows the enrollment secret.)
	b.Run("create an API token",
		chromedp.Navigate(sp.url+"/settings"),
		chromedp.WaitVisible(chromedp.ID("token-form")),
		chromedp.SendKeys(chromedp.ID("token-name"), "e2e auditor"),
		chromedp.SetValue(chromedp.ID("token-role"), "auditor"),
		chromedp.Click(chromedp.ID("create-token")),
	)
	b.WaitText("#secret", "API token e2e auditor", 10*time.Second)
	secret := b.Text("#secret-value")
	cli := func() error {
		_, _, err := run(t, "--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", secret, "hosts", "list")
		return err
	}
	if err := cli(); err != nil {
		t.Fatalf("the console's API token does not work for the CLI: %v", err)
	}
	b.Run("reload the settings", chromedp.Navigate(sp.url+"/settings"), chromedp.WaitVisible(chromedp.ID("api-tokens")))
	page := b.Text("main")
	if strings.Contains(page, secret) || strings.Contains(page, enroll) {
		t.Error("a secret is shown again after a reload")
	}
	if got := b.Text("#enroll-tokens"); !strings.Contains(got, "1 of 1") || !strings.Contains(got, "exhausted") {
		t.Errorf("the enrollment tokens read %q", got)
	}
	b.Screenshot("real-settings")
	b.Run("revoke the API token", chromedp.Click(chromedp.CSS(`#api-tokens form[action$="/revoke"] button`)))
	b.WaitText("#done", "API token revoked.", 10*time.Second)
	if err := cli(); err == nil {
		t.Error("the revoked API token still works")
	}

	// The report and its printable page.
	b.Run("open the reports", chromedp.Click(chromedp.CSS(`nav a[href="/reports"]`)), chromedp.WaitVisible(chromedp.ID("report-summary")))
	if b.Eval(`document.querySelectorAll(".chart svg").length`) != 3 {
		t.Error("the report does not draw its three charts")
	}
	b.Screenshot("real-reports")
	b.Run("open the printable report", chromedp.Navigate(sp.url+"/reports/report.html"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := b.Text("h1"); got != "Patchbay KPI report" {
		t.Errorf("the printable page's heading is %q", got)
	}

	// The operator changes their password: the new one signs in.
	b.signIn(sp.url, "olga", opPassword)
	const next = "olga's much longer passphrase"
	b.Run("change the password",
		chromedp.Navigate(sp.url+"/settings"),
		chromedp.WaitVisible(chromedp.ID("password-form")),
		chromedp.SendKeys(chromedp.ID("current"), opPassword),
		chromedp.SendKeys(chromedp.ID("new"), next),
		chromedp.SendKeys(chromedp.ID("confirm"), next),
		chromedp.Click(chromedp.ID("change-password")),
	)
	b.WaitText("#done", "Your password was changed", 10*time.Second)
	b.signIn(sp.url, "olga", next)
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported: %q", p)
	}

	// The CLI changes roles and disables users by the same rules.
	sp.mustCLI(t, "users", "role", "olga", "approver")
	b.Run("open the change form as an approver", chromedp.Navigate(sp.url+"/changes/new"), chromedp.WaitVisible(chromedp.CSS("main")))
	if got := b.Text("main"); !strings.Contains(got, "needs the permission changes:create") {
		t.Errorf("after the CLI made olga an approver she still opens the change form: %.200q", got)
	}
	b.Problems() // the browser logs the 403 it was meant to get
	sp.mustCLI(t, "users", "disable", "olga")
	b.Run("reload as the disabled user", chromedp.Navigate(sp.url+"/hosts"), chromedp.WaitVisible(chromedp.CSS("main")))
	if b.Eval(`document.querySelectorAll("#username").length`) != 1 {
		t.Error("the disabled user's console session survives")
	}
	if list := sp.mustCLI(t, "users", "list"); !strings.Contains(list, "disabled") {
		t.Errorf("users list does not show olga disabled:\n%s", list)
	}

	b.signIn(sp.url, "admin", admin)
	b.Run("read the audit trail", chromedp.Navigate(sp.url+"/audit"), chromedp.WaitVisible(chromedp.CSS("main")))
	log := b.Text("main")
	for _, want := range []string{"console enroll-token.create", "console token.create", "console token.revoke", "console user.password"} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit trail lacks %q", want)
		}
	}
	if strings.Contains(log, secret) || strings.Contains(log, next) {
		t.Error("a secret reached the audit trail")
	}
}
