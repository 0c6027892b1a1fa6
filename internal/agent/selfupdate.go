package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// StageSwapped is an agent_update job whose binary is installed on trial
// and whose process is being replaced by it. The binary that runs next
// reports the result after its first acknowledged check-in: success when
// it runs the release's version, failure when it is the previous binary,
// put back because the new one missed its deadline or, put back by the
// unit's guard, kept crashing at start.
const StageSwapped = "swapped"

// AgentPackage is the name under which an agent_update job's result
// reports the agent's version (JobResult.Installed), so the rollout
// engine verifies it as it verifies a package version.
const AgentPackage = "patchbay-agent"

// ReleaseInfo is what a verified release note says about the binary.
type ReleaseInfo struct {
	Version, OS, Arch string
	Size              int64
}

// SelfUpdater replaces the agent's own binary. Only the lean agent has
// one; without it agent_update jobs fail. Every check uses the release key
// pinned on the host, never anything the server sent besides the note.
type SelfUpdater interface {
	// Check verifies a release note against the pinned key, this agent's
	// version (no downgrade unless the note allows one) and platform.
	Check(note []byte) (ReleaseInfo, error)
	// Install verifies the note and the binary again and swaps the binary
	// in, on trial until deadline.
	Install(note, binary []byte, deadline time.Time) error
	// Restart replaces this process with the installed binary; it returns
	// only when it could not.
	Restart() error
}

// PathRelease is where an agent fetches a release binary, over its mTLS
// channel: PathRelease + version/os/arch.
const PathRelease = "/agent/v1/releases/"

// trialDeadline is when a new binary must have checked in: three quarters
// of the way to the job's expiry, so that a binary put back reports the
// failure before the server would count the job as timed out anyway.
func trialDeadline(now, expires time.Time) time.Time {
	return now.Add(expires.Sub(now) * 3 / 4)
}

// agentUpdate carries out an agent_update job: check the note, fetch the
// binary, install it on trial and restart into it.
func (a *Agent) agentUpdate(ctx context.Context, e *JournalEntry) error {
	if a.cfg.SelfUpdate == nil {
		e.Result.Detail = "this agent cannot update itself (`patchbay agent`); run the lean patchbay-agent binary"
		return a.finish(ctx, e)
	}
	r, err := a.cfg.SelfUpdate.Check(e.Job.Release)
	if err != nil {
		e.Result.Detail = "self-update refused: " + err.Error()
		return a.finish(ctx, e)
	}
	bin, err := a.fetchRelease(ctx, r)
	if err != nil {
		e.Result.Detail = "self-update: " + err.Error()
		return a.finish(ctx, e)
	}
	now := a.cfg.Now()
	deadline := trialDeadline(now, e.Job.Expires)
	if err := a.cfg.SelfUpdate.Install(e.Job.Release, bin, deadline); err != nil {
		e.Result.Detail = "self-update refused: " + err.Error()
		return a.finish(ctx, e)
	}
	// Installed holds the version on trial until the result is known.
	e.Result.Installed = map[string]string{AgentPackage: r.Version}
	e.Stage, e.Result.Detail = StageSwapped, fmt.Sprintf("installed %s %s on trial until %s", AgentPackage, r.Version, deadline.UTC().Format(time.RFC3339))
	if err := a.cfg.Journal.Save(e); err != nil {
		return err
	}
	a.cfg.Logger.Info("self-update installed; restarting into it", "from", a.cfg.AgentVersion, "to", r.Version, "deadline", deadline)
	err = a.cfg.SelfUpdate.Restart()
	// Still here: the new binary waits on disk for the next start, and
	// reports the job then.
	return fmt.Errorf("self-update installed, but restarting into it failed: %w", err)
}

// fetchRelease downloads the binary r describes from the server, at most
// its signed size.
func (a *Agent) fetchRelease(ctx context.Context, r ReleaseInfo) ([]byte, error) {
	client, err := a.mtlsClient()
	if err != nil {
		return nil, err
	}
	u := a.cfg.Server + PathRelease + url.PathEscape(r.Version) + "/" + url.PathEscape(r.OS) + "/" + url.PathEscape(r.Arch)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch release %s: %w", r.Version, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch release %s: server answered %s", r.Version, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.Size+1))
	if err != nil {
		return nil, fmt.Errorf("fetch release %s: %w", r.Version, err)
	}
	return b, nil // Install checks size and hash against the note
}

// finishSwapped reports an agent_update job that restarted this process,
// once a check-in was acknowledged (which also confirmed the trial): ok
// when this binary runs the version the job installed.
func (a *Agent) finishSwapped(ctx context.Context) error {
	if a.cfg.Journal == nil {
		return nil
	}
	e, err := a.cfg.Journal.Load()
	if err != nil || e == nil || e.Stage != StageSwapped {
		return err
	}
	want := e.Result.Installed[AgentPackage]
	e.Result.Installed = map[string]string{AgentPackage: a.cfg.AgentVersion}
	if want != "" && a.cfg.AgentVersion == want {
		e.Result.OK, e.Result.Detail = true, fmt.Sprintf("%s %s checked in", AgentPackage, want)
	} else {
		e.Result.OK, e.Result.Detail = false, fmt.Sprintf("%s %s did not check in by its deadline (or kept crashing at start); the previous binary (%s) is back", AgentPackage, want, a.cfg.AgentVersion)
	}
	return a.finish(ctx, e)
}
