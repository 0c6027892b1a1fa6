package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/protocol"
)

// JobExecutor performs the actions of accepted jobs on the host. It is the
// only way a job changes anything: install exact versions, reboot, or run
// a command the host's own configuration names.
type JobExecutor interface {
	Install(ctx context.Context, pkgs []protocol.JobPackage) ([]byte, error)
	Reboot(ctx context.Context) error
	Run(ctx context.Context, argv []string) ([]byte, error)
	// Repair finishes a package transaction a crash or reboot interrupted
	// (dpkg --configure -a and the like).
	Repair(ctx context.Context) error
}

// Journal stages of a job.
const (
	StageStarted = "started" // the action may have begun
	StageDone    = "done"    // the result is known but maybe not reported
)

// JournalEntry is the job in progress, persisted before and after each
// step so a crash or the reboot itself resumes it and its result is
// reported once.
type JournalEntry struct {
	Job    protocol.Job       `json:"job"`
	Stage  string             `json:"stage"`
	Result protocol.JobResult `json:"result"`
	// Units are the services a restart_services job is restarting, from the
	// agent's own detection, recorded before the command runs: the agent's
	// own unit may be among them.
	Units []string `json:"units,omitempty"`
}

// JobJournal stores the job in progress.
type JobJournal interface {
	Load() (*JournalEntry, error) // nil when there is none
	Save(*JournalEntry) error
	Clear() error
}

// FileJournal keeps the journal in one file, written durably.
type FileJournal struct{ Path string }

// Load reads the journal.
func (f FileJournal) Load() (*JournalEntry, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e JournalEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("job journal %s: %w", f.Path, err)
	}
	return &e, nil
}

// Save writes the journal durably.
func (f FileJournal) Save(e *JournalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(f.Path, b, 0o600)
}

// Clear removes the journal.
func (f FileJournal) Clear() error {
	err := os.Remove(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// MemJournal keeps the journal in memory (simulated agents).
type MemJournal struct {
	mu sync.Mutex
	e  *JournalEntry
}

// Load returns the entry.
func (m *MemJournal) Load() (*JournalEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e == nil {
		return nil, nil
	}
	c := *m.e
	return &c, nil
}

// Save stores the entry.
func (m *MemJournal) Save(e *JournalEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *e
	m.e = &c
	return nil
}

// Clear forgets the entry.
func (m *MemJournal) Clear() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e = nil
	return nil
}

func (a *Agent) verifier() (*JobVerifier, error) {
	key, err := protocol.ParseJobKey(a.st.JobKey)
	if err != nil {
		return nil, fmt.Errorf("pinned job key: %w", err)
	}
	return &JobVerifier{Key: key, HostID: a.st.HostID, State: a.cfg.Seq, Hooks: a.cfg.Hooks, Now: a.cfg.Now}, nil
}

// runJobs verifies and runs the jobs of a check-in answer, one at a time.
// It reports whether any job ran.
func (a *Agent) runJobs(ctx context.Context, envs []protocol.Envelope) (bool, error) {
	if len(envs) == 0 || a.cfg.Executor == nil || a.cfg.Journal == nil || a.cfg.Seq == nil {
		return false, nil
	}
	v, err := a.verifier()
	if err != nil {
		return false, err
	}
	ran := false
	for _, env := range envs {
		job, err := v.Accept(env)
		if errors.Is(err, ErrReplay) {
			// Done before, or offered by a server restored from a backup:
			// never run again; the server learns what the agent knows.
			if err := a.answerReplay(ctx, v, env); err != nil {
				return ran, err
			}
			continue
		}
		if err != nil {
			a.cfg.Logger.Warn("job refused", "key", env.KeyID, "reason", err)
			continue
		}
		ran = true
		if err := a.execute(ctx, job); err != nil {
			return ran, err
		}
	}
	return ran, nil
}

// snapshotVersions reads the installed versions of pkgs (by name and by
// name:arch).
func (a *Agent) snapshotVersions(ctx context.Context, pkgs []protocol.JobPackage) (map[string]string, error) {
	snap, err := a.cfg.Collector.Collect(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, p := range pkgs {
		want[p.Name] = true
	}
	out := map[string]string{}
	for _, p := range snap.Packages {
		if want[p.Name] {
			out[p.Name+":"+p.Arch] = p.Version
			out[p.Name] = p.Version
		}
	}
	return out, nil
}

// execute runs one accepted job with its journal and reports it.
func (a *Agent) execute(ctx context.Context, job protocol.Job) error {
	e := &JournalEntry{Job: job, Stage: StageStarted, Result: protocol.JobResult{JobID: job.ID}}
	if job.Action == protocol.ActionInstall {
		prev, err := a.snapshotVersions(ctx, job.Packages)
		if err != nil {
			return err
		}
		e.Result.Previous = prev
	}
	if err := a.cfg.Journal.Save(e); err != nil {
		return fmt.Errorf("job journal: %w", err)
	}
	a.cfg.Logger.Info("job started", "job", job.ID, "action", job.Action, "seq", job.Seq, "change", job.ChangeID)
	switch job.Action {
	case protocol.ActionInstall:
		if job.Name != "" {
			argv, _ := a.cfg.Hooks.Command(job.Name)
			if out, err := a.cfg.Executor.Run(ctx, argv); err != nil {
				e.Result.Detail = fmt.Sprintf("pre-patch hook %s failed: %v: %s", job.Name, err, tail(out))
				return a.finish(ctx, e)
			}
		}
		out, err := a.cfg.Executor.Install(ctx, job.Packages)
		if err != nil {
			e.Result.Detail = fmt.Sprintf("install failed: %v: %s", err, tail(out))
		}
		return a.finishInstall(ctx, e, err == nil)
	case protocol.ActionReboot:
		// The result is written before the reboot: when the agent runs
		// again, the host has rebooted and the journal says done.
		e.Stage, e.Result.OK, e.Result.Detail = StageDone, true, "rebooted"
		if err := a.cfg.Journal.Save(e); err != nil {
			return err
		}
		if err := a.cfg.Executor.Reboot(ctx); err != nil {
			e.Result.OK, e.Result.Detail = false, "reboot failed: "+err.Error()
		}
		return a.finish(ctx, e)
	case protocol.ActionHook, protocol.ActionHealthCheck:
		argv, _ := a.cfg.Hooks.Command(job.Name)
		out, err := a.cfg.Executor.Run(ctx, argv)
		e.Result.OK = err == nil
		e.Result.Detail = tail(out)
		if err != nil {
			e.Result.Detail = fmt.Sprintf("%s failed: %v: %s", job.Name, err, tail(out))
		}
		return a.finish(ctx, e)
	case protocol.ActionQuarantine, protocol.ActionRelease:
		// The declared command, then the action as its one extra argument:
		// the server chooses neither the command nor its arguments.
		argv, _ := a.cfg.Hooks.Command(job.Name)
		argv = append(argv, string(job.Action)) // Command returns a copy
		out, err := a.cfg.Executor.Run(ctx, argv)
		e.Result.OK = err == nil
		e.Result.Detail = tail(out)
		if err != nil {
			e.Result.Detail = fmt.Sprintf("%s %s failed: %v: %s", job.Name, job.Action, err, tail(out))
		}
		return a.finish(ctx, e)
	case protocol.ActionRestartServices:
		return a.restartServices(ctx, e)
	case protocol.ActionInventory:
		e.Result.OK = true
		return a.finish(ctx, e)
	case protocol.ActionAgentUpdate:
		return a.agentUpdate(ctx, e)
	}
	e.Result.Detail = "unsupported action " + string(job.Action)
	return a.finish(ctx, e)
}

// finishInstall verifies the installed versions against the job's.
func (a *Agent) finishInstall(ctx context.Context, e *JournalEntry, ran bool) error {
	inst, err := a.snapshotVersions(ctx, e.Job.Packages)
	if err != nil {
		return err
	}
	e.Result.Installed = inst
	if ran {
		e.Result.OK = true
		for _, p := range e.Job.Packages {
			got := inst[p.Name+":"+p.Arch]
			if p.Arch == "" {
				got = inst[p.Name]
			}
			if got != p.Version {
				e.Result.OK = false
				e.Result.Detail = fmt.Sprintf("%s is %q after the install, want %s", p.Name, got, p.Version)
				break
			}
		}
	}
	return a.finish(ctx, e)
}

// finish marks the job done in the journal and reports it.
func (a *Agent) finish(ctx context.Context, e *JournalEntry) error {
	e.Stage = StageDone
	if err := a.cfg.Journal.Save(e); err != nil {
		return err
	}
	return a.reportResult(ctx, e)
}

// reportResult sends the result; a result the server has already is
// reported. The journal is cleared only then.
func (a *Agent) reportResult(ctx context.Context, e *JournalEntry) error {
	if a.cfg.Results != nil {
		// Recorded before it is sent: once the journal is cleared, the log
		// is what answers this job if a restored server offers it again.
		if err := a.cfg.Results.Record(e.Job.Seq, e.Result); err != nil {
			return err
		}
	}
	if err := a.postResult(ctx, e.Result); err != nil {
		return err
	}
	a.cfg.Logger.Info("job reported", "job", e.Job.ID, "ok", e.Result.OK, "detail", e.Result.Detail)
	return a.cfg.Journal.Clear()
}

// resumeJob finishes what a crash or reboot interrupted: a result not yet
// reported is reported; a job that was running is repaired and verified.
func (a *Agent) resumeJob(ctx context.Context) error {
	if a.cfg.Journal == nil {
		return nil
	}
	e, err := a.cfg.Journal.Load()
	if err != nil || e == nil {
		return err
	}
	if e.Stage == StageDone {
		return a.reportResult(ctx, e)
	}
	if e.Stage == StageSwapped {
		return nil // reported after the next acknowledged check-in: finishSwapped
	}
	a.cfg.Logger.Warn("resuming an interrupted job", "job", e.Job.ID, "action", e.Job.Action)
	switch e.Job.Action {
	case protocol.ActionInstall:
		if a.cfg.Executor != nil {
			if err := a.cfg.Executor.Repair(ctx); err != nil {
				a.cfg.Logger.Warn("package repair failed", "err", err)
			}
		}
		e.Result.Detail = "interrupted; verified after repair"
		return a.finishInstall(ctx, e, true)
	case protocol.ActionRestartServices:
		if e.Units != nil {
			return a.verifyRestart(ctx, e)
		}
		e.Result.OK, e.Result.Detail = false, "interrupted before its result was known"
		return a.finish(ctx, e)
	default:
		e.Result.OK, e.Result.Detail = false, "interrupted before its result was known"
		return a.finish(ctx, e)
	}
}

func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
