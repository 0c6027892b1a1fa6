package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/browsertest"
)

// TestConsoleInChromium drives the console in real headless Chromium over
// TLS: sign in, find a host, read a finding's reasons, approve a change and
// watch its rollout progress; create a change from selected findings and
// take it through approval, rollout, halt, resume and sign-off; read the
// audit log; all with no CSP violation.
func TestConsoleInChromium(t *testing.T) {
	clk := newClock()
	fake := newFakeBackend(t, clk.Now)
	mux := http.NewServeMux()
	mux.Handle("/", New(fake, Options{Secure: true, Now: clk.Now}))
	// A page that breaks the console's CSP on purpose proves the watch
	// below does see violations.
	mux.HandleFunc("GET /test/csp-canary", func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>canary</title><script>document.title = "ran"</script><p id="canary">canary</p>`)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)

	br := browsertest.Start(t, 3*time.Minute)
	ctx, run, text, waitText, screenshot := br.Ctx, br.Run, br.Text, br.WaitText, br.Screenshot

	// The watch sees a CSP violation when there is one.
	run("open the CSP canary", chromedp.Navigate(srv.URL+"/test/csp-canary"), chromedp.WaitVisible(chromedp.ID("canary")))
	deadline := time.Now().Add(5 * time.Second)
	var canary []string
	for len(canary) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		canary = br.Problems()
	}
	if len(canary) == 0 || !strings.Contains(strings.Join(canary, "\n"), "Content Security Policy") {
		t.Fatalf("the inline script of the canary page raised no CSP report; the watch is blind: %q", canary)
	}

	// Sign in as the approver.
	run("open the console", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	screenshot("login")
	run("sign in",
		chromedp.SendKeys(chromedp.ID("username"), "approver"),
		chromedp.SendKeys(chromedp.ID("password"), fakePassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("count-hosts")),
	)
	if got := text("#count-hosts"); got != "3" {
		t.Errorf("the dashboard counts %q hosts, want 3", got)
	}
	if got := text("#count-kev"); got != "1" {
		t.Errorf("the dashboard counts %q KEV findings, want 1", got)
	}
	screenshot("dashboard")

	// Search a host and open it.
	searchInChromium(br, "/hosts", "db-01")
	waitText("#host-total", "1 host match", 5*time.Second)
	run("open the host",
		chromedp.Click(chromedp.CSS(`#hosts a[href="/hosts/h2"]`)),
		chromedp.WaitVisible(chromedp.ID("hostname")),
	)
	if got := text("#hostname"); got != "db-01.example.net" {
		t.Errorf("host page shows %q", got)
	}
	screenshot("host")

	// The hostile host's name shows as text, and nothing of it runs.
	run("open the hostile host", chromedp.Navigate(srv.URL+"/hosts/h3"), chromedp.WaitVisible(chromedp.ID("packages")))
	if got := text("#hostname"); got != xssHostname {
		t.Errorf("the hostile hostname shows as %q, want the literal text %q", got, xssHostname)
	}
	if !strings.Contains(text("#packages"), csvFormula) {
		t.Errorf("the CSV-formula version does not show as text")
	}
	screenshot("host-hostile")

	// Open the ranked findings and one finding's reasons.
	run("open a finding's reasons",
		chromedp.Navigate(srv.URL+"/vulns"),
		chromedp.WaitVisible(chromedp.ID("findings")),
		chromedp.Click(chromedp.CSS(`#finding-f1 details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#finding-f1 details li`)),
	)
	if got := text("#finding-f1 details"); !strings.Contains(got, "in CISA KEV: +30") {
		t.Errorf("finding reasons show %q", got)
	}
	if first := text("#findings tbody tr:first-child td.num"); first != "97" {
		t.Errorf("the first finding has priority %q, want the highest, 97", first)
	}
	screenshot("vulns")

	// Open the change and approve it.
	run("open the change",
		chromedp.Navigate(srv.URL+"/changes"),
		chromedp.WaitVisible(chromedp.ID("changes")),
		chromedp.Click(chromedp.CSS(`#changes a[href="/changes/c1"]`)),
		chromedp.WaitVisible(chromedp.ID("action-approve")),
	)
	if got := text("#change-state"); got != "pending approval" {
		t.Errorf("change state %q before approval", got)
	}
	run("approve", chromedp.Click(chromedp.ID("action-approve")))
	waitText("#change-state", "approved", 5*time.Second)
	if got := text("#approved-by"); got != "approver" {
		t.Errorf("approved by %q", got)
	}
	screenshot("change-approved")

	// The rollout starts elsewhere; the page follows it by polling.
	if err := fake.ChangeAction(ctx, User{ID: "u3", Username: "operator", Role: "operator"}, "c1", "start"); err != nil {
		t.Fatal(err)
	}
	waitText("#change-state", "running", 8*time.Second)
	fake.setHostStatus("c1", "h1", "succeeded", "installed 2 packages")
	waitText(`tr[data-host-id="h1"] .status`, "succeeded", 8*time.Second)
	waitText(`tr[data-host-id="h1"] .detail`, "installed 2 packages", 2*time.Second)
	screenshot("change-running")

	// signInAs signs the current user out and signs user in.
	signInAs := func(user string) { t.Helper(); br.SignIn(srv.URL, user, fakePassword) }

	// The operator selects findings and creates a change from them.
	signInAs("operator")
	run("select findings",
		chromedp.Navigate(srv.URL+"/vulns"),
		chromedp.WaitVisible(chromedp.ID("findings")),
		chromedp.Click(chromedp.CSS(`#finding-f1 input[name=advisory]`)),
		chromedp.Click(chromedp.CSS(`#finding-f2 input[name=advisory]`)),
	)
	screenshot("vulns-selected")
	run("open the create form", chromedp.Click(chromedp.ID("create-change")), chromedp.WaitVisible(chromedp.ID("title")))
	if got := text("#advisories"); !strings.Contains(got, "CVE-2024-3094") || !strings.Contains(got, "CVE-2023-4911") {
		t.Errorf("the create form lists advisories %q, want the two selected", got)
	}
	run("fill in the create form",
		chromedp.Click(chromedp.ID("group-0")),
		chromedp.Click(chromedp.ID("group-1")),
		chromedp.SetValue(chromedp.ID("failure_budget"), "1"),
	)
	screenshot("change-new")
	run("create the change", chromedp.Click(chromedp.ID("create")))
	waitText(".notice", "Change created", 5*time.Second)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/changes/c2?done=create") {
		t.Fatalf("after creating, the browser is at %q (%v), want /changes/c2", loc, err)
	}
	if got := text("#change-state"); got != "pending approval" {
		t.Errorf("the new change is %q, want pending approval", got)
	}
	if got := text("#change-groups"); got != "web, databases" {
		t.Errorf("the new change targets %q", got)
	}
	screenshot("change-created")

	// The approver approves it.
	signInAs("approver")
	run("approve the new change", chromedp.Navigate(srv.URL+"/changes/c2"), chromedp.Click(chromedp.ID("action-approve")))
	waitText("#change-state", "approved", 5*time.Second)
	screenshot("change-new-approved")

	// The operator starts it, watches it, halts and resumes it.
	signInAs("operator")
	run("start the rollout", chromedp.Navigate(srv.URL+"/changes/c2"), chromedp.Click(chromedp.ID("action-start")))
	waitText("#change-state", "running", 5*time.Second)
	fake.setHostStatus("c2", "h1", "succeeded", "upgraded xz-utils")
	waitText(`tr[data-host-id="h1"] .detail`, "upgraded xz-utils", 8*time.Second)
	screenshot("change-progress")
	run("halt", chromedp.Click(chromedp.ID("action-halt")))
	waitText("#change-state", "halted", 5*time.Second)
	screenshot("change-halted")
	run("resume", chromedp.Click(chromedp.ID("action-resume")))
	waitText("#change-state", "running", 5*time.Second)
	screenshot("change-resumed")
	fake.finishRollout("c2")
	waitText("#change-state", "awaiting signoff", 8*time.Second)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form.signoff").length`)); err != nil || n != 0 {
		t.Errorf("the operator sees %d sign-off forms (%v), want none", n, err)
	}

	// The stakeholder signs off one group and reports a problem in the other.
	signInAs("stakeholder")
	run("open the change to sign off", chromedp.Navigate(srv.URL+"/changes/c2"), chromedp.WaitVisible(chromedp.ID("signoff-ok-0")))
	screenshot("change-signoff")
	run("sign off web", chromedp.Click(chromedp.ID("signoff-ok-0")))
	waitText(".notice", "Sign-off recorded.", 5*time.Second)
	run("report a problem with databases",
		chromedp.SendKeys(chromedp.ID("problem-1"), "nightly reports fail since the update"),
		chromedp.Click(chromedp.ID("signoff-problem-1")),
	)
	waitText("#change-state", "done", 5*time.Second)
	if got := text("#signoffs"); !strings.Contains(got, "systems work") || !strings.Contains(got, "nightly reports fail since the update") {
		t.Errorf("the sign-offs read %q", got)
	}
	screenshot("change-signed-off")

	// The admin reads the audit log.
	signInAs("admin")
	run("read the audit log",
		chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)),
		chromedp.WaitVisible(chromedp.ID("audit")),
	)
	if got := text("#audit"); !strings.Contains(got, "change.approve") || !strings.Contains(got, "logout") ||
		!strings.Contains(got, "change.create") || !strings.Contains(got, "change.signoff") {
		t.Errorf("the audit log lacks the creation, approval, sign-off or sign-out: %q", got)
	}
	screenshot("audit")

	if p := br.Problems(); len(p) > 0 {
		t.Errorf("the browser reported problems on the console's pages:\n%s", strings.Join(p, "\n"))
	}
	entries, _ := os.ReadDir(br.Shots)
	if len(entries) < 17 {
		t.Errorf("%d screenshots in %s, want 17", len(entries), br.Shots)
	}
}
