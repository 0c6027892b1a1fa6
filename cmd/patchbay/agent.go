package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/spf13/cobra"
)

type agentFlags struct {
	enrollToken string
	stateDir    string
	root        string
	once        bool
	interval    time.Duration
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent: enroll this host, then report its inventory and run signed jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server, _ := cmd.Flags().GetString("server")
			ca, _ := cmd.Flags().GetString("ca")
			return runAgent(cmd.Context(), newLogger(os.Stderr), server, ca, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.enrollToken, "enroll-token", os.Getenv("PATCHBAY_ENROLL_TOKEN"), "enrollment token, needed for the first run only (env PATCHBAY_ENROLL_TOKEN)")
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/patchbay/agent", "directory for the agent's key, certificate and state")
	fl.StringVar(&f.root, "root", "/", "read (and for jobs, change) the host image mounted here")
	fl.BoolVar(&f.once, "once", false, "check in once, run pending jobs, and exit")
	fl.DurationVar(&f.interval, "interval", 0, "check-in interval (default: the server's)")
	return cmd
}

func runAgent(ctx context.Context, log *slog.Logger, server, ca string, f agentFlags) error {
	a, err := agent.New(agent.Config{
		Server: server, EnrollToken: f.enrollToken, CAFile: ca,
		State:     agent.DirState{Dir: f.stateDir},
		Collector: inventory.Collector{Root: f.root, Runner: inventory.ExecRunner{}, Now: time.Now},
		Updates:   pkgUpdates{pkgmgr.Manager{Root: f.root, Runner: pkgmgr.ExecRunner{}}},
		Logger:    log, Interval: f.interval,
	})
	if err != nil {
		return err
	}
	hostname, err := hostnameOf(f.root)
	if err != nil {
		return err
	}
	if !f.once {
		return a.Run(ctx, hostname)
	}
	if err := a.Enroll(ctx, hostname); err != nil {
		return err
	}
	resp, err := a.CheckinOnce(ctx)
	if err != nil {
		return err
	}
	log.Info("checked in", "host", a.HostID(), "revision", resp.Revision)
	return nil
}

// hostnameOf names the host for enrollment: the image's /etc/hostname under
// --root, else the kernel's.
func hostnameOf(root string) (string, error) {
	if root != "/" && root != "" {
		if b, err := os.ReadFile(root + "/etc/hostname"); err == nil {
			if h := firstLine(string(b)); h != "" {
				return h, nil
			}
		}
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("hostname: %w", err)
	}
	return h, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' || c == '\r' {
			return s[:i]
		}
	}
	return s
}

// pkgUpdates lists available updates with the package manager of the
// format the inventory found.
type pkgUpdates struct{ m pkgmgr.Manager }

func (p pkgUpdates) AvailableUpdates(ctx context.Context, format inventory.Format) ([]protocol.Update, error) {
	m := p.m
	m.Format = format
	if m.Format == "" {
		return nil, nil
	}
	us, err := m.AvailableUpdates(ctx)
	if errors.Is(err, pkgmgr.ErrNoPackageManager) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Update, 0, len(us))
	for _, u := range us {
		out = append(out, protocol.Update{Name: u.Name, Arch: u.Arch, Version: u.Version, Repo: u.Repo})
	}
	return out, nil
}
