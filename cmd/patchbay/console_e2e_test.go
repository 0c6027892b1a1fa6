package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
)

// TestConsoleAgainstTheRealServer signs in to the console of a real server
// process in headless Chromium, finds a host a real agent enrolled, opens
// it, and reads the audit trail, which records the sign-in.
func TestConsoleAgainstTheRealServer(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is missing; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the console test")
	}
	sp := startServerProc(t, "server", "--feed-source", "none")
	root, state := ubuntuRoot(t, "web-console-1"), t.TempDir()
	// A hostile agent on the same server speaks the real protocol with XSS
	// in every field, a CSV formula and control characters (the real
	// collectors refuse such names; a compromised host need not use them).
	hostile := agent.Config{Server: sp.url, EnrollToken: sp.enrollToken(t), State: &agent.MemState{},
		Collector: hostileCollector{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ha, err := agent.New(hostile)
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Enroll(t.Context(), "<script>alert('host')</script>"); err != nil {
		t.Fatal(err)
	}
	if _, err := ha.CheckinOnce(t.Context()); err != nil {
		t.Fatalf("hostile check-in: %v", err)
	}
	if out, err := sp.agentRun(t, state, root, sp.enrollToken(t)); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	pw, err := os.ReadFile(filepath.Join(sp.dataDir, "admin.password"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.IgnoreCertErrors,
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	var mu sync.Mutex
	var problems []string
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
				p = "log: " + ev.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
		case *page.EventJavascriptDialogOpening:
			p = "dialog: " + ev.Message
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	}))
	defer cancelBrowser()
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	run("sign in", chromedp.Navigate(sp.url+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), strings.TrimSpace(string(pw))),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("count-hosts")))
	run("hosts", chromedp.Navigate(sp.url+"/hosts?q=web-console"), chromedp.WaitVisible(chromedp.CSS("main")))
	hosts := text("main")
	run("open the host", chromedp.Click(chromedp.CSS(`main a[href^="/hosts/"]`)), chromedp.WaitVisible(chromedp.CSS("main")))
	host := text("main")
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatal(err)
	}
	run("audit", chromedp.Navigate(sp.url+"/audit"), chromedp.WaitVisible(chromedp.CSS("main")))
	auditText := text("main")

	// The hostile host's pages show its payloads as text and run nothing.
	run("hostile hosts", chromedp.Navigate(sp.url+"/hosts?q=script"), chromedp.WaitVisible(chromedp.CSS("main")))
	if list := text("main"); !strings.Contains(list, "<script>alert('host')</script>") {
		t.Errorf("the hostile hostname is not shown as text:\n%.400s", list)
	}
	run("hostile host", chromedp.Click(chromedp.CSS(`main a[href^="/hosts/"]`)), chromedp.WaitVisible(chromedp.CSS("main")))
	page := text("main")
	if !strings.Contains(page, "<img src=x onerror=alert('pkg')>") || !strings.Contains(page, "=cmd|' /C calc'!A0") {
		t.Errorf("the hostile package is not shown as text:\n%.600s", page)
	}
	injected, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('img[onerror], main script').length`))
	if err != nil || injected != 0 {
		t.Errorf("elements injected by agent data: %d (%v)", injected, err)
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the browser reported: %q", problems)
	}
	mu.Unlock()
	if !strings.Contains(hosts, "web-console-1") {
		t.Errorf("hosts page lacks the enrolled host:\n%s", hosts)
	}
	if !strings.Contains(host, "libc6") || !strings.Contains(host, "2.27-3ubuntu1") {
		t.Errorf("host page lacks its packages:\n%.600s", host)
	}
	if !strings.Contains(auditText, "admin") || !strings.Contains(strings.ToLower(auditText), "login") {
		t.Errorf("audit page lacks the sign-in:\n%.600s", auditText)
	}
	if len(shot) < 1000 {
		t.Errorf("screenshot of %d bytes", len(shot))
	}
	os.WriteFile(filepath.Join(t.TempDir(), "host.jpg"), shot, 0o644)
}

// hostileCollector reports payloads in every field.
type hostileCollector struct{}

func (hostileCollector) Collect(context.Context) (inventory.Snapshot, error) {
	return inventory.Snapshot{
		Facts: inventory.Facts{Hostname: "<script>alert('host')</script>",
			OS:     inventory.OS{ID: "ubuntu", VersionID: "22.04", PrettyName: "<b onmouseover=alert('os')>Ubuntu</b>"},
			Kernel: "6.1\x1b[31m<svg onload=alert('k')>", Arch: "x86_64", PackageFormat: inventory.FormatDpkg,
			Addresses: []string{"=HYPERLINK(\"http://evil\")"}, RebootReasons: []string{"<iframe src=javascript:alert(1)>"}},
		Packages: []inventory.Package{
			{Name: "<img src=x onerror=alert('pkg')>", Version: "=cmd|' /C calc'!A0\x1b[31m", Arch: "amd64", Source: "\"><svg onload=alert('src')>"},
			{Name: "bash", Version: "5.1-6ubuntu1", Arch: "amd64"},
		},
		Problems: []string{"<script>alert('problem')</script>"},
	}, nil
}
