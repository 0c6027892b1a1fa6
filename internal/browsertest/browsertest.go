// Package browsertest drives the web console in real headless Chromium for
// tests: it starts the browser (skipping without one, failing under
// CI=true), collects everything a clean page never reports (CSP
// violations, script errors, console errors, dialogs), and reads, waits
// and takes screenshots in ways that survive a page being replaced by a
// redirect or a reload. It is for tests only.
package browsertest

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

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/patchbay/patchbay/internal/testenv"
)

// Browser is one Chromium tab.
type Browser struct {
	t *testing.T
	// Ctx is the tab's context, for chromedp calls of the test's own.
	Ctx context.Context
	// Shots is where Screenshot writes: testdata/screenshots of the test's
	// package with UPDATE_SCREENSHOTS=1 (for a person to look at; ignored by
	// git, as no test reads them), else a temporary directory.
	Shots string

	mu       sync.Mutex
	problems []string
}

// Start opens headless Chromium for t, for at most timeout. Without
// Chromium the test is skipped, or fails when CI=true (.ci/run installs
// Debian's chromium package).
func Start(t *testing.T, timeout time.Duration) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.SkipOrFail(t, "no headless chromium on PATH (%v): install it with `apt-get install -y chromium`", err)
	}
	b := &Browser{t: t, Shots: t.TempDir()}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		b.Shots = filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(b.Shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.IgnoreCertErrors,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(cancelTab)
	b.Ctx = tab
	return b
}

func (b *Browser) listen(ev any) {
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
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// Problems returns and clears what the browser reported since the last call.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// Run performs actions as one named step; an error fails the test.
func (b *Browser) Run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
}

// retry calls fn until it succeeds, up to tries times 100 ms apart: a node
// read while the page is being replaced (a redirect, the change page's
// reload on a state change) is gone, and a page without layout yet cannot
// be photographed.
func retry(tries int, fn func() error) error {
	var err error
	for range tries {
		if err = fn(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Text is the trimmed text of the first element sel selects.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s string
	err := retry(50, func() (err error) {
		s, err = chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel)))
		return err
	})
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Eval evaluates a JavaScript expression that yields a number.
func (b *Browser) Eval(js string) int {
	b.t.Helper()
	var n int
	err := retry(50, func() (err error) {
		n, err = chromedp.Run(b.Ctx, chromedp.Evaluate[int](js))
		return err
	})
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

// WaitText waits until sel's text contains want, across reloads.
func (b *Browser) WaitText(sel, want string, within time.Duration) {
	b.t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	deadline := time.Now().Add(within)
	var got string
	for time.Now().Before(deadline) {
		if s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](js)); err == nil {
			if got = s; strings.Contains(got, want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s says %q after %v, want %q", sel, got, within, want)
}

// Screenshot saves the whole page as Shots/name.png.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	var buf []byte
	err := retry(100, func() (err error) {
		buf, err = chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
		return err
	})
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if _, err := png.Decode(bytes.NewReader(buf)); err != nil {
		b.t.Fatalf("screenshot %s is not a PNG (%d bytes): %v", name, len(buf), err)
	}
	if err := os.WriteFile(filepath.Join(b.Shots, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// SignIn opens the console at url, signs out whoever is signed in, and
// signs user in with password, waiting for the dashboard.
func (b *Browser) SignIn(url, user, password string) {
	b.t.Helper()
	b.Run("open the console", chromedp.Navigate(url+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	if b.Eval(`document.querySelectorAll('form[action="/logout"] button').length`) > 0 {
		b.Run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	}
	b.Run("sign in as "+user,
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("count-hosts")))
}
