package agentcmd

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/release"
)

// TrialPath is the trial file of the binary at exe, which the agent unit's
// ExecStartPre= guard (/usr/lib/patchbay/agent-revert-guard) reads before
// every start: it puts release.PrevPath(exe) back, without running the new
// binary, once the deadline passed or the binary was started too often
// without checking in.
func TrialPath(exe string) string { return exe + ".trial" }

// trialFile is the trial file's text: one key=value a line, in the form
// the POSIX sh guard parses (and refuses anything else).
func trialFile(exe string, deadline time.Time) []byte {
	return fmt.Appendf(nil, "previous=%s\ndeadline=%d\nstarts=0\n", release.PrevPath(exe), deadline.Unix())
}

// installOnTrial swaps binary in at exe on trial until deadline. The trial
// file is written durably, root's own and mode 0600, before the swap: the
// guard acts only while release.Install's pending marker also exists, so a
// crash between the two writes leaves a trial that the guard clears.
func installOnTrial(exe string, binary []byte, r release.Release, deadline time.Time) error {
	if err := durable.WriteFile(TrialPath(exe), trialFile(exe, deadline), 0o600); err != nil {
		return fmt.Errorf("self-update: write the trial file: %w", err)
	}
	if err := release.Install(exe, binary, r, deadline); err != nil {
		os.Remove(TrialPath(exe))
		return err
	}
	return nil
}

// clearTrial removes the trial file once the trial ended (confirmed or
// reverted), so the guard has nothing left to count.
func clearTrial(exe string) error {
	if err := os.Remove(TrialPath(exe)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("self-update: remove the trial file: %w", err)
	}
	return nil
}
