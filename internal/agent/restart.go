package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/inventory"
)

// DefaultRestartCommand restarts systemd services. The agent appends "--"
// and the unit names, so a name can never be read as an option.
var DefaultRestartCommand = []string{"/usr/bin/systemctl", "restart"}

// ValidateRestartCommand checks a configured restart command: a clean
// absolute program path, run without a shell or PATH lookup.
func ValidateRestartCommand(argv []string) error {
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) || filepath.Clean(argv[0]) != argv[0] {
		return fmt.Errorf("restart command %q: give the absolute path of the program first, like /usr/bin/systemctl,restart", argv)
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("restart command: argument %d contains a NUL byte", i)
		}
	}
	return nil
}

// restartServices carries out a restart_services job. The job names no
// units: the agent detects afresh which services run replaced code and
// restarts exactly those. When the detection says the host needs a reboot,
// the job fails rather than leave the host half patched; the change's
// engine counts it as a failed host, and its operator plans a reboot.
func (a *Agent) restartServices(ctx context.Context, e *JournalEntry) error {
	snap, err := a.collectFresh(ctx)
	if err != nil {
		e.Result.Detail = fmt.Sprintf("restart services: detecting services that need a restart failed: %v", err)
		return a.finish(ctx, e)
	}
	f := snap.Facts
	if f.RebootRequired {
		e.Result.Detail = fmt.Sprintf("restart services refused: this host needs a reboot (%s), which restarting services cannot replace; "+
			"nothing was restarted. Roll out a change that reboots it", strings.Join(f.RebootReasons, "; "))
		return a.finish(ctx, e)
	}
	units := restartableUnits(f.ServicesNeedingRestart)
	if len(units) == 0 {
		e.Result.OK, e.Result.Detail = true, "no service needs a restart"
		return a.finish(ctx, e)
	}
	command := a.cfg.RestartCommand
	if command == nil {
		command = DefaultRestartCommand
	}
	if err := ValidateRestartCommand(command); err != nil {
		e.Result.Detail = err.Error()
		return a.finish(ctx, e)
	}
	// Recorded before the command runs: if it restarts the agent itself,
	// the agent started in its place verifies instead of guessing.
	e.Units = units
	if err := a.cfg.Journal.Save(e); err != nil {
		return fmt.Errorf("job journal: %w", err)
	}
	argv := append(append(slices.Clone(command), "--"), units...)
	out, err := a.cfg.Executor.Run(ctx, argv)
	if err != nil {
		e.Result.Detail = fmt.Sprintf("restarting %s failed: %v: %s", strings.Join(units, " "), err, tail(out))
		return a.finish(ctx, e)
	}
	e.Result.OK, e.Result.Detail = true, "restarted "+strings.Join(units, " ")
	return a.finish(ctx, e)
}

// verifyRestart finishes a restart_services job the agent was interrupted
// in (typically because its own unit was restarted): it succeeded if no
// unit it was restarting still needs a restart.
func (a *Agent) verifyRestart(ctx context.Context, e *JournalEntry) error {
	snap, err := a.collectFresh(ctx)
	if err != nil {
		e.Result.OK, e.Result.Detail = false, fmt.Sprintf("interrupted while restarting %s; verifying failed: %v", strings.Join(e.Units, " "), err)
		return a.finish(ctx, e)
	}
	var left []string
	for _, u := range e.Units {
		if slices.Contains(snap.Facts.ServicesNeedingRestart, u) {
			left = append(left, u)
		}
	}
	if len(left) > 0 {
		e.Result.OK, e.Result.Detail = false, "interrupted while restarting; still need a restart: "+strings.Join(left, " ")
	} else {
		e.Result.OK, e.Result.Detail = true, "restarted "+strings.Join(e.Units, " ")+" (verified after the agent restarted)"
	}
	return a.finish(ctx, e)
}

// collectFresh collects without reusing a cached restart detection, when
// the collector caches one (inventory.Collector with a RestartCache).
func (a *Agent) collectFresh(ctx context.Context) (inventory.Snapshot, error) {
	if c, ok := a.cfg.Collector.(interface {
		CollectFresh(context.Context) (inventory.Snapshot, error)
	}); ok {
		return c.CollectFresh(ctx)
	}
	return a.cfg.Collector.Collect(ctx)
}

// restartableUnits keeps the well-formed service unit names, sorted and
// unique, at most inventory.MaxRestartServices: the detection's output
// was validated when parsed, and is checked again here because this is
// where the names become arguments.
func restartableUnits(names []string) []string {
	var out []string
	for _, n := range names {
		if inventory.ValidServiceUnit(n) && !slices.Contains(out, n) && len(out) < inventory.MaxRestartServices {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
