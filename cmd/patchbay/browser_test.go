package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/browsertest"
)

// browser is headless Chromium driving a real server's console.
type browser struct{ *browsertest.Browser }

// newBrowser starts headless Chromium; without it the test skips, or fails
// under CI=true.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	return &browser{browsertest.Start(t, timeout)}
}

// signIn signs out whoever is signed in and signs user in.
func (b *browser) signIn(url, user, password string) {
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
