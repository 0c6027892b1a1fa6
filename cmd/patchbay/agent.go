package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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
	noJobs      bool
	hooks       string
	reboot      []string
	restart     []string
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
	fl.BoolVar(&f.noJobs, "no-jobs", false, "report inventory only; run no jobs")
	fl.StringVar(&f.hooks, "hooks", agent.DefaultHooksPath, "JSON file naming the hooks and health checks jobs may run (name → argv); missing: none")
	fl.StringSliceVar(&f.reboot, "reboot-command", []string{"/usr/bin/systemctl", "reboot"}, "command that reboots the host (argv, comma-separated)")
	fl.StringSliceVar(&f.restart, "restart-command", agent.DefaultRestartCommand, "command that restarts services (argv, comma-separated); restart_services jobs append -- and the units this host's needrestart or needs-restarting reports")
	return cmd
}

func runAgent(ctx context.Context, log *slog.Logger, server, ca string, f agentFlags) error {
	// needrestart and needs-restarting take seconds: check-ins reuse their
	// result while the packages are unchanged, for up to 15 minutes; a
	// restart_services job always detects afresh.
	collector := inventory.Collector{Root: f.root, Runner: inventory.ExecRunner{}, Now: time.Now,
		RestartCache: &inventory.RestartCache{TTL: 15 * time.Minute}}
	cfg := agent.Config{
		Server: server, EnrollToken: f.enrollToken, CAFile: ca,
		State:     agent.DirState{Dir: f.stateDir},
		Collector: collector,
		Updates:   pkgUpdates{pkgmgr.Manager{Root: f.root, Runner: pkgmgr.ExecRunner{}}},
		Logger:    log, Interval: f.interval,
	}
	if !f.noJobs {
		if err := setupJobs(ctx, &cfg, collector, f, log); err != nil {
			return err
		}
	}
	a, err := agent.New(cfg)
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

// setupJobs lets the agent run signed jobs: its local hooks, the durable
// sequence and journal in the state directory, and an executor driving the
// host's package manager.
func setupJobs(ctx context.Context, cfg *agent.Config, c inventory.Collector, f agentFlags, log *slog.Logger) error {
	hooks, err := agent.LoadHooks(f.hooks)
	if errors.Is(err, os.ErrNotExist) {
		hooks = agent.Hooks{}
	} else if err != nil {
		return err
	}
	seq, err := agent.OpenSeqFile(filepath.Join(f.stateDir, "job-seq.json"))
	if err != nil {
		return err
	}
	results, err := agent.OpenResultFile(filepath.Join(f.stateDir, "job-results.json"), seq.LastSeq())
	if err != nil {
		return err
	}
	cfg.Results = results
	snap, err := c.Collect(ctx)
	if err != nil {
		return fmt.Errorf("collect inventory: %w", err)
	}
	if err := agent.ValidateRestartCommand(f.restart); err != nil {
		return fmt.Errorf("--restart-command: %w", err)
	}
	cfg.Hooks, cfg.Seq, cfg.RestartCommand = hooks, seq, f.restart
	cfg.Journal = agent.FileJournal{Path: filepath.Join(f.stateDir, "job-journal.json")}
	cfg.Executor = hostExecutor{m: pkgmgr.Manager{Format: snap.Facts.PackageFormat, Root: f.root, Runner: pkgmgr.ExecRunner{}},
		reboot: f.reboot, log: log}
	return nil
}

// hostExecutor carries out accepted jobs on this host (or the image under
// --root): package operations through pkgmgr, commands as argv only.
type hostExecutor struct {
	m      pkgmgr.Manager
	reboot []string
	log    *slog.Logger
}

func (e hostExecutor) Install(ctx context.Context, pkgs []protocol.JobPackage) ([]byte, error) {
	if out, err := e.m.Refresh(ctx); err != nil {
		e.log.Warn("refreshing package lists failed; installing from the lists at hand", "err", err, "output", string(out))
	}
	targets := make([]pkgmgr.Target, 0, len(pkgs))
	for _, p := range pkgs {
		targets = append(targets, pkgmgr.Target{Name: p.Name, Arch: p.Arch, Version: p.Version})
	}
	return e.m.Install(ctx, targets)
}

func (e hostExecutor) Reboot(ctx context.Context) error {
	if len(e.reboot) == 0 {
		return errors.New("no reboot command")
	}
	out, err := exec.CommandContext(ctx, e.reboot[0], e.reboot[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func (e hostExecutor) Run(ctx context.Context, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
}

func (e hostExecutor) Repair(ctx context.Context) error {
	out, err := e.m.Repair(ctx)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
