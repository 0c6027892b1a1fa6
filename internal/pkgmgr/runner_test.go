package pkgmgr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	t.Run("a missing tool wraps ErrNoPackageManager", func(t *testing.T) {
		_, err := ExecRunner{}.Run(ctx, "patchbay-no-such-package-manager")
		if !errors.Is(err, ErrNoPackageManager) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a non-zero exit is an *ExitError with code and stderr, and stdout is kept", func(t *testing.T) {
		// ls of a missing path writes to stdout for the path that exists
		// and to stderr for the one that does not, then exits 2.
		out, err := ExecRunner{}.Run(ctx, "ls", "-d", "/", "/patchbay-no-such-path")
		var exitErr *ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("err = %v, want *ExitError", err)
		}
		if exitErr.Code != 2 || exitErr.Name != "ls" || !strings.Contains(exitErr.Stderr, "patchbay-no-such-path") {
			t.Errorf("ExitError = %+v", exitErr)
		}
		if strings.TrimSpace(string(out)) != "/" {
			t.Errorf("stdout = %q", out)
		}
	})
	t.Run("arguments are passed as argv, not through a shell", func(t *testing.T) {
		out, err := ExecRunner{}.Run(ctx, "echo", "$(id)", ";", "`id`")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != "$(id) ; `id`" {
			t.Errorf("echo printed %q", got)
		}
	})
	t.Run("the environment is C locale, noninteractive, then Env", func(t *testing.T) {
		out, err := ExecRunner{Env: []string{"PATCHBAY_TEST=1", "LC_ALL=POSIX"}}.Run(ctx, "env")
		if err != nil {
			t.Fatal(err)
		}
		env := "\n" + string(out)
		for _, want := range []string{"\nDEBIAN_FRONTEND=noninteractive\n", "\nPATCHBAY_TEST=1\n", "\nLC_ALL=POSIX\n"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %q", strings.TrimSpace(want))
			}
		}
	})
	t.Run("cancelling the context stops the command", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ExecRunner{}.Run(ctx, "sleep", "30")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
	})
}
