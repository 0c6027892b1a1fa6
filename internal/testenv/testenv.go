// Package testenv decides what a test does when the machine lacks something
// it needs (a system tool, root, a database, the shared data): on a
// developer's machine it skips with a message that says what to install; in
// CI (CI=true) it fails, because there everything must be present and a
// silent skip would count an untested feature as passing. It is for tests
// only.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where nothing may be
// skipped for want of a tool.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips t with the message, or fails it under CI=true.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and this test cannot run: "+format, args...)
	}
	t.Skipf(format, args...)
}

// NeedTools skips (or, in CI, fails) t unless every tool is on PATH. how
// says how to install them, e.g. "apt-get install -y dpkg apt".
func NeedTools(t testing.TB, how string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, "%s is not installed (%v); install it (%s) to run this test", tool, err, how)
		}
	}
}

// NeedRoot skips (or, in CI, fails) t unless it runs as root; why says
// what needs root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "not root: %s", why)
	}
}

// Env returns the environment variable name, or skips (in CI, fails) t
// when it is unset; example shows a value to set.
func Env(t testing.TB, name, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		SkipOrFail(t, "%s is not set (e.g. %s=%s)", name, name, example)
	}
	return v
}
