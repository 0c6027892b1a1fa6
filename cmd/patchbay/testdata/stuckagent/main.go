// Command stuckagent stands for an agent release that starts but never
// checks in (a hang before its first check-in, say) in the agent update
// end-to-end test. Like every patchbay-agent release it carries the way
// back: once its trial deadline passes it puts the previous binary back
// and runs it, as the real agent's watch of its trial does.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/release"
)

func main() {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stuckagent:", err)
		os.Exit(1)
	}
	for {
		p, err := release.ReadPending(exe)
		if err != nil || p == nil {
			fmt.Fprintln(os.Stderr, "stuckagent: not on trial:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "stuckagent: hanging until the trial deadline", p.Deadline)
		time.Sleep(time.Until(p.Deadline) + 200*time.Millisecond)
		reverted, err := release.RevertIfOverdue(exe, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "stuckagent:", err)
			os.Exit(1)
		}
		if reverted {
			fmt.Fprintln(os.Stderr, "stuckagent: missed the deadline; running the previous binary")
			fmt.Fprintln(os.Stderr, "stuckagent:", syscall.Exec(exe, os.Args, os.Environ()))
			os.Exit(1)
		}
	}
}
