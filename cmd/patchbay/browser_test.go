package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
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
)

// browser is headless Chromium driving a real server's console. It
// records every console error, CSP report, exception and dialog.
type browser struct {
	t        *testing.T
	ctx      context.Context
	shots    string
	mu       sync.Mutex
	problems []string
}

// newBrowser starts headless Chromium; without it the test skips, or fails
// under CI=true. Screenshots go to testdata/screenshots with
// UPDATE_SCREENSHOTS=1, else to a temporary directory.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is missing; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the console test")
	}
	b := &browser{t: t, shots: t.TempDir()}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.IgnoreCertErrors,
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(cancelTab)
	b.ctx = bctx
	return b
}

func (b *browser) listen(ev any) {
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
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// takeProblems returns and clears what the browser reported.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	// A node read while the page is replaced (a redirect, the change page's
	// reload on a state change) is gone; read again.
	var s string
	var err error
	for try := 0; try < 50; try++ {
		if s, err = chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression that yields a number.
func (b *browser) eval(js string) int {
	b.t.Helper()
	var n int
	var err error
	for try := 0; try < 50; try++ { // as text: the page may be reloading
		if n, err = chromedp.Run(b.ctx, chromedp.Evaluate[int](js)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

// waitText waits until sel's text contains want, surviving reloads.
func (b *browser) waitText(sel, want string, within time.Duration) {
	b.t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	deadline := time.Now().Add(within)
	var got string
	for time.Now().Before(deadline) {
		if s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js)); err == nil {
			if got = s; strings.Contains(got, want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s says %q after %v, want %q", sel, got, within, want)
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	// Right after a navigation the page may have no layout yet ("Cannot
	// take screenshot with 0 width"); retry for up to ten seconds.
	var buf []byte
	var err error
	for try := 0; try < 100; try++ {
		if buf, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if _, err := png.Decode(bytes.NewReader(buf)); err != nil {
		b.t.Fatalf("screenshot %s is not a PNG (%d bytes): %v", name, len(buf), err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs out whoever is signed in and signs user in.
func (b *browser) signIn(url, user, password string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(url+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	if b.eval(`document.querySelectorAll('form[action="/logout"] button').length`) > 0 {
		b.run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	}
	b.run("wait for the sign-in form", chromedp.WaitVisible(chromedp.ID("username")))
	b.run("sign in as "+user,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("count-hosts")))
}
