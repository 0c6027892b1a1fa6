package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/patchbay/patchbay/internal/agentcmd"
	"github.com/spf13/cobra"
)

// newAgentCmd is `patchbay agent`, an alias of the lean patchbay-agent
// binary: the same flags, configuration file and environment.
func newAgentCmd() *cobra.Command {
	return agentcmd.New("agent", newLogger(os.Stderr))
}

// agentFlags are the settings of the agent `patchbay up` runs in-process.
type agentFlags struct {
	enrollToken string
	stateDir    string
	root        string
	interval    time.Duration
	noJobs      bool
}

// runAgent runs the agent in-process beside `patchbay up`'s server; it
// reads no configuration file.
func runAgent(ctx context.Context, log *slog.Logger, server, ca string, f agentFlags) error {
	return agentcmd.Run(ctx, log, agentcmd.Options{
		Server: server, CAFile: ca, EnrollToken: f.enrollToken, StateDir: f.stateDir,
		Root: f.root, Interval: f.interval, NoJobs: f.noJobs,
	})
}
