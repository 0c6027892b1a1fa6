// Command patchbay-agent is the lean Patchbay agent: the agent of
// `patchbay agent` without the server, store, console or Prometheus code,
// for installing on every host (see docs/agent-install.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/patchbay/patchbay/internal/agentcmd"
)

func main() {
	if err := agentcmd.RevertOverdueUpdate(); err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-agent:", err)
		runPrevious(err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	level := slog.LevelInfo
	if os.Getenv("PATCHBAY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	err := agentcmd.NewLean(log).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-agent:", err)
		runPrevious(err)
		os.Exit(1)
	}
}

// runPrevious runs the previous binary in this process when err says a
// self-update missed its deadline and was put back: the agent carries on
// (and reports the failed update) with or without a service manager.
func runPrevious(err error) {
	if !errors.Is(err, agentcmd.ErrReverted) {
		return
	}
	fmt.Fprintln(os.Stderr, "patchbay-agent: starting the previous binary")
	if err := agentcmd.ExecSelf(); err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-agent: start the previous binary:", err)
	}
}
