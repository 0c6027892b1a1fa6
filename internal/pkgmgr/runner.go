package pkgmgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrNoPackageManager reports that the tool for a package format is not
// installed on this host (or not in PATH).
var ErrNoPackageManager = errors.New("package manager not installed")

// Runner runs one command given as argv. It returns the command's standard
// output even when the command fails; a non-zero exit is a *ExitError.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (stdout []byte, err error)
}

// ExitError is a command that ran and exited with a non-zero status.
type ExitError struct {
	Name   string // the command, as given to Run
	Code   int    // exit status
	Stderr string // what it wrote to standard error
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	const max = 2048
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	if msg == "" {
		return fmt.Sprintf("%s exited with status %d", e.Name, e.Code)
	}
	return fmt.Sprintf("%s exited with status %d: %s", e.Name, e.Code, msg)
}

// ExecRunner runs commands with os/exec, never through a shell. It sets
// LC_ALL=C (parseable, untranslated output) and
// DEBIAN_FRONTEND=noninteractive; Env is appended after those and wins.
type ExecRunner struct {
	Env []string
}

// WithEnv returns a copy of r that also sets env ("KEY=value") for the
// commands it runs.
func (r ExecRunner) WithEnv(env ...string) Runner {
	r.Env = append(r.Env[:len(r.Env):len(r.Env)], env...)
	return r
}

// waitDelay bounds how long Run waits for output after ctx is cancelled
// and the process is killed (a child may hold the pipes open).
const waitDelay = 10 * time.Second

// Run implements Runner. When name is not found in PATH the error wraps
// ErrNoPackageManager.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", name, ErrNoPackageManager, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Env = append(cmd.Env, r.Env...)
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, ctxErr)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return stdout.Bytes(), &ExitError{Name: name, Code: exitErr.ExitCode(), Stderr: stderr.String()}
	}
	return stdout.Bytes(), fmt.Errorf("run %s: %w", name, err)
}
