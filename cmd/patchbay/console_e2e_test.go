package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
)

// TestConsoleAgainstTheRealServer signs in to the console of a real server
// process in headless Chromium, finds a host a real agent enrolled, opens
// it, and reads the audit trail, which records the sign-in.
func TestConsoleAgainstTheRealServer(t *testing.T) {
	b, sp := startConsole(t, 60*time.Second)
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
	pw := sp.adminPassword(t)
	b.signIn(sp.url, "admin", pw)

	b.Run("hosts", chromedp.Navigate(sp.url+"/hosts?q=web-console"), chromedp.WaitVisible(chromedp.CSS("main")))
	hosts := b.Text("main")
	b.Run("open the host", chromedp.Click(chromedp.CSS(`main a[href^="/hosts/"]`)), chromedp.WaitVisible(chromedp.CSS("main")))
	host := b.Text("main")
	b.Screenshot("real-host")
	b.Run("audit", chromedp.Navigate(sp.url+"/audit"), chromedp.WaitVisible(chromedp.CSS("main")))
	auditText := b.Text("main")

	// The hostile host's pages show its payloads as text and run nothing.
	b.Run("hostile hosts", chromedp.Navigate(sp.url+"/hosts?q=script"), chromedp.WaitVisible(chromedp.CSS("main")))
	if list := b.Text("main"); !strings.Contains(list, "<script>alert('host')</script>") {
		t.Errorf("the hostile hostname is not shown as text:\n%.400s", list)
	}
	b.Run("hostile host", chromedp.Click(chromedp.CSS(`main a[href^="/hosts/"]`)), chromedp.WaitVisible(chromedp.CSS("main")))
	page := b.Text("main")
	b.Screenshot("real-host-hostile")
	if !strings.Contains(page, "<img src=x onerror=alert('pkg')>") || !strings.Contains(page, "=cmd|' /C calc'!A0") {
		t.Errorf("the hostile package is not shown as text:\n%.600s", page)
	}
	injected, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('img[onerror], main script').length`))
	if err != nil || injected != 0 {
		t.Errorf("elements injected by agent data: %d (%v)", injected, err)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported: %q", p)
	}
	if !strings.Contains(hosts, "web-console-1") {
		t.Errorf("hosts page lacks the enrolled host:\n%s", hosts)
	}
	if !strings.Contains(host, "libc6") || !strings.Contains(host, "2.27-3ubuntu1") {
		t.Errorf("host page lacks its packages:\n%.600s", host)
	}
	if !strings.Contains(auditText, "admin") || !strings.Contains(strings.ToLower(auditText), "login") {
		t.Errorf("audit page lacks the sign-in:\n%.600s", auditText)
	}
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
