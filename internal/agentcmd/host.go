package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/protocol"
)

// Options are the agent's settings once the file, the environment and the
// flags are merged.
type Options struct {
	Server      string
	CAFile      string
	EnrollToken string
	// ConfigFile, when the enrollment token came from it, loses its
	// enroll_token key once the host is enrolled.
	ConfigFile     string
	TokenFromFile  bool
	Labels         map[string]string
	StateDir       string
	Root           string
	Once           bool
	Interval       time.Duration
	NoJobs         bool
	Hooks          string
	RebootCommand  []string
	RestartCommand []string
	// SelfUpdatable: this is the lean binary, which reverts a self-update
	// that has not checked in by its deadline.
	SelfUpdatable bool
	// ReleaseKey is the pinned release verifier key file agent_update jobs
	// are verified with (lean binary only).
	ReleaseKey string
}

// Run runs the agent for this host (or the image under o.Root) until ctx
// ends, or for one check-in with o.Once.
func Run(ctx context.Context, log *slog.Logger, o Options) error {
	if o.Root == "" {
		o.Root = "/"
	}
	// needrestart and needs-restarting take seconds: check-ins reuse their
	// result while the packages are unchanged, for up to 15 minutes; a
	// restart_services job always detects afresh.
	collector := inventory.Collector{Root: o.Root, Runner: inventory.ExecRunner{}, Now: time.Now,
		RestartCache: &inventory.RestartCache{TTL: 15 * time.Minute}}
	cfg := agent.Config{
		Server: o.Server, EnrollToken: o.EnrollToken, CAFile: o.CAFile, Labels: o.Labels,
		State:     agent.DirState{Dir: o.StateDir},
		Collector: collector,
		Updates:   pkgUpdates{pkgmgr.Manager{Root: o.Root, Runner: pkgmgr.ExecRunner{}}},
		Logger:    log, Interval: o.Interval,
	}
	dropToken := func(string) {}
	if o.TokenFromFile && o.ConfigFile != "" {
		dropToken = func(string) {
			if err := agent.RemoveEnrollToken(o.ConfigFile); err != nil {
				log.Warn("enrolled, but the enrollment token stays in the config file; remove it by hand", "file", o.ConfigFile, "err", err)
				return
			}
			log.Info("removed the enrollment token from the config file", "file", o.ConfigFile)
		}
		cfg.OnEnrolled = dropToken
	}
	if o.SelfUpdatable {
		trialCtx, onCheckedIn, stop, err := watchTrial(ctx, log)
		if err != nil {
			return err
		}
		defer stop()
		ctx, cfg.OnCheckedIn = trialCtx, onCheckedIn
		// Only the lean binary reports its version: the server plans agent
		// updates for the agents that report one, and only it can update
		// itself.
		cfg.SelfUpdate = leanUpdater{keyPath: o.ReleaseKey}
		cfg.AgentVersion, cfg.AgentPlatform = Version, runtime.GOOS+"/"+runtime.GOARCH
	}
	if !o.NoJobs {
		if err := setupJobs(ctx, &cfg, collector, o, log); err != nil {
			return err
		}
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	if a.HostID() != "" {
		// Enrolled earlier (perhaps the process stopped between saving its
		// identity and rewriting the file): the token has no further use.
		dropToken(a.HostID())
	}
	hostname, err := hostnameOf(o.Root)
	if err != nil {
		return err
	}
	if !o.Once {
		err := a.Run(ctx, hostname)
		if cause := context.Cause(ctx); errors.Is(cause, errReverted) {
			return cause
		}
		return err
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
func setupJobs(ctx context.Context, cfg *agent.Config, c inventory.Collector, o Options, log *slog.Logger) error {
	hooks, err := agent.LoadHooks(o.Hooks)
	if errors.Is(err, os.ErrNotExist) {
		hooks = agent.Hooks{}
	} else if err != nil {
		return err
	}
	seq, err := agent.OpenSeqFile(filepath.Join(o.StateDir, "job-seq.json"))
	if err != nil {
		return err
	}
	results, err := agent.OpenResultFile(filepath.Join(o.StateDir, "job-results.json"), seq.LastSeq())
	if err != nil {
		return err
	}
	cfg.Results = results
	snap, err := c.Collect(ctx)
	if err != nil {
		return fmt.Errorf("collect inventory: %w", err)
	}
	if err := agent.ValidateRestartCommand(o.RestartCommand); err != nil {
		return fmt.Errorf("--restart-command: %w", err)
	}
	cfg.Hooks, cfg.Seq, cfg.RestartCommand = hooks, seq, o.RestartCommand
	cfg.Journal = agent.FileJournal{Path: filepath.Join(o.StateDir, "job-journal.json")}
	cfg.Executor = hostExecutor{m: pkgmgr.Manager{Format: snap.Facts.PackageFormat, Root: o.Root, Runner: pkgmgr.ExecRunner{}},
		reboot: o.RebootCommand, log: log}
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
