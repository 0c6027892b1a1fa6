package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/server"
	"github.com/spf13/cobra"
)

func newUpCmd() *cobra.Command {
	cfg := server.DefaultConfig()
	var root, demoData string
	var demo bool
	var demoHosts int
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the server and an agent for this machine (inventory only): Patchbay on a laptop in one command; --demo: a simulated fleet, no network",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			log := newLogger(os.Stderr)
			if demo {
				cfg.FeedSources, cfg.FeedSyncInterval = nil, 0 // the demo never touches the network
				if demoData == "" {
					demoData = findSharedData()
				}
			}
			rs, err := startServer(ctx, cfg, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			rs.printBanner(out)
			feedSyncNotice(out, cfg)
			if demo {
				fmt.Fprintf(out, "Demo: importing the feeds in %s and enrolling %d simulated hosts (real package lists of several distributions); open the console at %s\n",
					demoData, demoHosts, rs.url)
				demoErr := make(chan error, 1)
				go func() { demoErr <- runDemo(ctx, rs, demoData, demoHosts, log) }()
				select {
				case err := <-demoErr:
					if err != nil {
						cancel()
						rs.wait()
						return err
					}
					return rs.wait()
				case err := <-rs.errc:
					return err
				}
			}
			caFile := filepath.Join(cfg.DataDir, "ca.crt")
			stateDir := filepath.Join(cfg.DataDir, "agent")
			token, err := localEnrollToken(ctx, rs.url, caFile, rs.first.TokenPath, stateDir)
			if err != nil {
				cancel()
				rs.wait()
				return err
			}
			agentErr := make(chan error, 1)
			go func() {
				agentErr <- runAgent(ctx, log.With("component", "agent"), rs.url, caFile,
					agentFlags{enrollToken: token, stateDir: stateDir, root: root, interval: cfg.CheckinInterval, noJobs: true})
			}()
			fmt.Fprintf(out, "This machine is enrolled by the built-in agent (state in %s).\n", stateDir)
			fmt.Fprintf(out, "  patchbay hosts list; patchbay hosts show %s\n", mustHostname())
			select {
			case err := <-agentErr:
				if err != nil && ctx.Err() == nil {
					log.Error("local agent stopped", "err", err)
				}
				return rs.wait()
			case err := <-rs.errc:
				return err
			}
		},
	}
	addServerFlags(cmd, &cfg)
	cmd.Flags().StringVar(&root, "root", "/", "inventory the image mounted here instead of this machine")
	cmd.Flags().BoolVar(&demo, "demo", false, "instead of this machine, a simulated fleet of several distributions with feeds imported from local files; no network")
	cmd.Flags().StringVar(&demoData, "demo-data", "", "the shared data folder with inventories/, osv/, secdb/, kev/, epss/ (default: ../shared/data found above the working directory)")
	cmd.Flags().IntVar(&demoHosts, "demo-hosts", 50, "simulated hosts in the demo")
	return cmd
}

// localEnrollToken creates a single-use token for the built-in agent, or
// returns "" when the agent's state says it is enrolled already.
func localEnrollToken(ctx context.Context, url, caFile, tokenPath, stateDir string) (string, error) {
	if st, err := (agent.DirState{Dir: stateDir}).Load(); err == nil && st.Enrolled() {
		return "", nil
	}
	b, err := os.ReadFile(tokenPath)
	if err != nil {
		return "", fmt.Errorf("read admin token to enroll this machine: %w", err)
	}
	c, err := client.New(url, strings.TrimSpace(string(b)), caFile)
	if err != nil {
		return "", err
	}
	var tok api.EnrollToken
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Do(ctx, "POST", "/api/v1/enroll-tokens", nil, api.CreateEnrollTokenRequest{MaxHosts: 1, Expires: "10m"}, &tok); err != nil {
		return "", fmt.Errorf("create an enrollment token for this machine: %w", err)
	}
	return tok.Token, nil
}

func mustHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "HOST"
	}
	return h
}
