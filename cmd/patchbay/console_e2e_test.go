package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
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
