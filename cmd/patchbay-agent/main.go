// Command patchbay-agent is the lean Patchbay agent: the agent of
// `patchbay agent` without the server, store, console or Prometheus code,
// for installing on every host (see docs/agent-install.md).
package main

import (
	"context"
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
		os.Exit(1)
	}
}
