package main

import (
	"testing"
	"time"

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
func (b *browser) signIn(url, user, password string) { b.SignIn(url, user, password) }

// startConsole starts headless Chromium and a server process without
// feeds, for a test of the real console.
func startConsole(t *testing.T, timeout time.Duration) (*browser, *serverProc) {
	t.Helper()
	return newBrowser(t, timeout), startServerProc(t, "server", "--feed-source", "none")
}

// adminPassword is the initial admin password the server wrote in its data
// directory.
func (sp *serverProc) adminPassword(t *testing.T) string {
	t.Helper()
	return sp.secret(t, "admin.password")
}
