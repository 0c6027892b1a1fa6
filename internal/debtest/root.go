package debtest

import (
	"os"
	"testing"
)

// RequireRoot skips t unless it runs as root, except when CI=true: there
// the tests run as root, and not being root is a broken build machine.
// why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "not root: " + why + "; run the tests as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
