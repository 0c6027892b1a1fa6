// Package testenv decides what a test does when the machine lacks something
// it needs (a system tool, root, a database, the shared data): on a
// developer's machine it skips with a message that says what to install; in
// CI (CI=true) it fails, because there everything must be present and a
// silent skip would count an untested feature as passing. It is for tests
// only.
package testenv

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver FreshPostgres opens
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

// PostgresEnv is the variable naming the PostgreSQL server tests use.
const PostgresEnv = "PATCHBAY_TEST_POSTGRES"

// Postgres returns the URL of the PostgreSQL server for tests, or skips (in
// CI, fails) t when PostgresEnv is unset.
func Postgres(t testing.TB) string {
	t.Helper()
	return Env(t, PostgresEnv, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// FreshPostgres creates an empty database on the PostgreSQL server at base
// for one test, drops it when the test ends, and returns its URL.
func FreshPostgres(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("pbtest_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
