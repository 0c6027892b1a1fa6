package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/spf13/cobra"
)

// Version is the lean agent's release version, set at build time:
// go build -ldflags "-X github.com/patchbay/patchbay/internal/agentcmd.Version=v1.4.0".
// A self-update must be newer unless its signed release allows a downgrade.
var Version = "v0.0.0-dev"

// NewLean is the patchbay-agent command: New plus self-update, which only
// the lean binary offers (`patchbay agent` must not replace patchbay).
func NewLean(log *slog.Logger) *cobra.Command {
	cmd, f := newCommand("patchbay-agent", log)
	f.selfUpdatable = true
	cmd.Version = Version
	cmd.Flags().StringVar(&f.releaseKey, "release-key", release.DefaultKeyPath, "pinned release verifier key that agent_update jobs must be signed with")
	cmd.AddCommand(newSelfUpdateCmd(log))
	return cmd
}

// leanUpdater carries out agent_update jobs for the lean binary: every
// check is against the release key pinned on this host, read afresh for
// each job.
type leanUpdater struct{ keyPath string }

func (u leanUpdater) key() (string, error) {
	if u.keyPath == "" {
		return "", errors.New("no pinned release key (--release-key)")
	}
	b, err := os.ReadFile(u.keyPath)
	if err != nil {
		return "", fmt.Errorf("pinned release key: %w (package the agent with --release-key)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (u leanUpdater) Check(file []byte) (agent.ReleaseInfo, error) {
	key, err := u.key()
	if err != nil {
		return agent.ReleaseInfo{}, err
	}
	r, err := release.Check(file, key, Version, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return agent.ReleaseInfo{}, err
	}
	return agent.ReleaseInfo{Version: r.Version, OS: r.OS, Arch: r.Arch, Size: r.Size}, nil
}

func (u leanUpdater) Install(file, binary []byte, deadline time.Time) error {
	key, err := u.key()
	if err != nil {
		return err
	}
	r, err := release.Verify(file, key, binary, Version, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return err
	}
	exe, err := executable()
	if err != nil {
		return err
	}
	return installOnTrial(exe, binary, r, deadline)
}

func (u leanUpdater) Restart() error { return ExecSelf() }

// ExecSelf replaces this process with the binary now at this executable's
// path, with the same arguments and environment: the same process ID, so
// a service manager sees no exit.
func ExecSelf() error {
	exe, err := executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}

func executable() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("self-update: find this binary: %w", err)
	}
	return exe, nil
}

func newSelfUpdateCmd(log *slog.Logger) *cobra.Command {
	var releaseFile, binary, key string
	var deadline time.Duration
	cmd := &cobra.Command{
		Use:   "self-update",
		Short: "Replace this agent binary with a signed release; it is put back unless the new one checks in before --deadline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if deadline <= 0 {
				return errors.New("--deadline: give a positive duration such as 10m")
			}
			vkey, err := os.ReadFile(key)
			if err != nil {
				return fmt.Errorf("--key (the pinned release key): %w", err)
			}
			file, err := os.ReadFile(releaseFile)
			if err != nil {
				return fmt.Errorf("--release: %w", err)
			}
			bin, err := os.ReadFile(binary)
			if err != nil {
				return fmt.Errorf("--binary: %w", err)
			}
			r, err := release.Verify(file, strings.TrimSpace(string(vkey)), bin, Version, runtime.GOOS, runtime.GOARCH)
			if err != nil {
				return fmt.Errorf("self-update refused: %w", err)
			}
			exe, err := executable()
			if err != nil {
				return err
			}
			until := time.Now().Add(deadline)
			if err := installOnTrial(exe, bin, r, until); err != nil {
				return err
			}
			log.Info("self-update installed; restart the agent to run it", "binary", exe, "from", Version, "to", r.Version,
				"deadline", until.UTC().Format(time.RFC3339), "previous", release.PrevPath(exe))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&releaseFile, "release", "", "release file from `patchbay release sign`")
	fl.StringVar(&binary, "binary", "", "the signed patchbay-agent binary")
	fl.StringVar(&key, "key", release.DefaultKeyPath, "pinned release verifier key")
	fl.DurationVar(&deadline, "deadline", 10*time.Minute, "the new binary must check in within this time of installing, or the previous one is put back")
	_ = cmd.MarkFlagRequired("release")
	_ = cmd.MarkFlagRequired("binary")
	return cmd
}

// errReverted ends Run when a self-updated binary missed its deadline.
var errReverted = errors.New("self-update did not check in by its deadline: the previous binary is back")

// ErrReverted reports that a self-updated binary missed its deadline and
// the previous one is back at the executable's path: the caller runs it
// (ExecSelf).
var ErrReverted = errReverted

// watchTrial puts the previous binary back when the binary on trial (if
// any) has not checked in by its deadline, at start or while running, and
// confirms the trial on the first acknowledged check-in. It returns the
// context Run should use, the check-in hook and a stop function.
func watchTrial(ctx context.Context, log *slog.Logger) (context.Context, func(), func(), error) {
	nothing := func() {}
	exe, err := executable()
	if err != nil {
		return ctx, nothing, nothing, err
	}
	reverted, err := release.RevertIfOverdue(exe, time.Now())
	if err != nil {
		return ctx, nothing, nothing, err
	}
	if reverted {
		return ctx, nothing, nothing, errors.Join(errReverted, clearTrial(exe))
	}
	p, err := release.ReadPending(exe)
	if err != nil || p == nil {
		return ctx, nothing, nothing, err
	}
	log.Info("self-update on trial: it must check in before the deadline", "version", p.Version, "deadline", p.Deadline)
	ctx, cancel := context.WithCancelCause(ctx)
	var confirmed atomic.Bool
	onCheckedIn := func() {
		if confirmed.CompareAndSwap(false, true) {
			if err := errors.Join(release.Confirm(exe), clearTrial(exe)); err != nil {
				log.Error("self-update checked in but could not be confirmed", "err", err)
				return
			}
			log.Info("self-update confirmed", "version", p.Version)
		}
	}
	timer := time.AfterFunc(time.Until(p.Deadline)+time.Second, func() {
		if confirmed.Load() {
			return
		}
		if reverted, err := release.RevertIfOverdue(exe, time.Now()); err != nil {
			log.Error("self-update missed its deadline and could not be reverted", "err", err)
		} else if reverted {
			if err := clearTrial(exe); err != nil {
				log.Error("self-update reverted", "err", err)
			}
			cancel(errReverted)
		}
	})
	return ctx, onCheckedIn, func() { timer.Stop(); cancel(nil) }, nil
}

// RevertOverdueUpdate puts the previous binary back when this one is on
// trial past its deadline. The lean binary calls it first thing in main,
// before any flag or config parsing that a bad release might fail on; it
// reports ErrReverted, and main runs the previous binary in its place
// (ExecSelf).
func RevertOverdueUpdate() error {
	exe, err := executable()
	if err != nil {
		return err
	}
	reverted, err := release.RevertIfOverdue(exe, time.Now())
	if err != nil {
		return err
	}
	if reverted {
		return errors.Join(errReverted, clearTrial(exe))
	}
	return nil
}
