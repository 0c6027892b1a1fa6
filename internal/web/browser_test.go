package web

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// consoleWatch collects what the browser reports that a clean page never
// should: CSP violations, script errors, console errors and dialogs.
type consoleWatch struct {
	mu       sync.Mutex
	problems []string
}

func (w *consoleWatch) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
			p = fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p = fmt.Sprintf("console.%s called", ev.Type)
		}
	case *runtime.EventExceptionThrown:
		p = "exception: " + ev.ExceptionDetails.Text
	case *page.EventJavascriptDialogOpening:
		p = "dialog opened: " + ev.Message
	}
	if p != "" {
		w.mu.Lock()
		w.problems = append(w.problems, p)
		w.mu.Unlock()
	}
}

// take returns and clears what was collected.
func (w *consoleWatch) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems = nil
	return p
}

// TestConsoleInChromium drives the console in real headless Chromium over
// TLS: sign in, find a host, read a finding's reasons, approve a change and
// watch its rollout progress; create a change from selected findings and
// take it through approval, rollout, halt, resume and sign-off; read the
// audit log; all with no CSP violation.
func TestConsoleInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("headless Chromium is missing at %s in CI (.ci/run must `apt-get install -y chromium`): %v", chromiumPath, err)
		}
		t.Skipf("skipping the browser test: no Chromium at %s (install it with `apt-get install -y chromium`)", chromiumPath)
	}
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

	shots := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		shots = filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 55*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.IgnoreCertErrors,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	watch := &consoleWatch{}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(watch.listen))
	defer cancelTab()

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		// A node read while the page is replaced (a redirect, the change
		// page's reload) is gone ("No node with given id"); read again.
		var s string
		var err error
		for try := 0; try < 50; try++ {
			if s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// waitText waits until sel's text contains want, surviving reloads.
	waitText := func(sel, want string, within time.Duration) {
		t.Helper()
		js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
		deadline := time.Now().Add(within)
		var got string
		for time.Now().Before(deadline) {
			if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js)); err == nil {
				if got = s; strings.Contains(got, want) {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s says %q after %v, want %q", sel, got, within, want)
	}
	screenshot := func(name string) {
		t.Helper()
		// Right after a navigation (or the change page's reload on a state
		// change) the page may have no layout yet ("Cannot take screenshot
		// with 0 width"); retry for up to ten seconds (CI machines are shared).
		var buf []byte
		var err error
		for try := 0; try < 100; try++ {
			if buf, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if _, err := png.Decode(bytes.NewReader(buf)); err != nil || len(buf) == 0 {
			t.Fatalf("screenshot %s is not a PNG (%d bytes): %v", name, len(buf), err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The watch sees a CSP violation when there is one.
	run("open the CSP canary", chromedp.Navigate(srv.URL+"/test/csp-canary"), chromedp.WaitVisible(chromedp.ID("canary")))
	deadline := time.Now().Add(5 * time.Second)
	var canary []string
	for len(canary) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		canary = watch.take()
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
	run("search hosts",
		chromedp.Click(chromedp.CSS(`nav a[href="/hosts"]`)),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), "db-01"),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
	)
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
	signInAs := func(user string) {
		t.Helper()
		run("sign in as "+user,
			chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), fakePassword),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.ID("count-hosts")),
		)
	}

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

	if p := watch.take(); len(p) > 0 {
		t.Errorf("the browser reported problems on the console's pages:\n%s", strings.Join(p, "\n"))
	}
	entries, _ := os.ReadDir(shots)
	if len(entries) < 17 {
		t.Errorf("%d screenshots in %s, want 17", len(entries), shots)
	}
}
