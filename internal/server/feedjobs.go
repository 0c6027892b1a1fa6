package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/version"
)

// Feed jobs: the matching a feed import asks for runs here, off the
// request path, one job at a time in the order they were stored. A job's
// row commits with its import, so the jobs a stopped server left queued or
// running are run at the next start (matching is idempotent).

// jobSignals wake the job runner and tell waiters that a job ended.
type jobSignals struct {
	wake  chan struct{}
	mu    sync.Mutex
	ended chan struct{} // closed and replaced whenever a job ends
}

func newJobSignals() jobSignals {
	return jobSignals{wake: make(chan struct{}, 1), ended: make(chan struct{})}
}

func (v *vulns) wakeJobs() {
	select {
	case v.jobs.wake <- struct{}{}:
	default:
	}
}

func (v *vulns) jobEnded() {
	v.jobs.mu.Lock()
	close(v.jobs.ended)
	v.jobs.ended = make(chan struct{})
	v.jobs.mu.Unlock()
}

func (v *vulns) endedSignal() <-chan struct{} {
	v.jobs.mu.Lock()
	defer v.jobs.mu.Unlock()
	return v.jobs.ended
}

// runJobs runs pending feed jobs until ctx ends. With several replicas
// (PostgreSQL) the replica holding the feed-jobs lease runs them, looking
// every second for jobs other replicas stored.
func (v *vulns) runJobs(ctx context.Context) {
	poll := time.Minute // a job stored by another process
	if v.s.storeIsShared() {
		poll = time.Second
		defer v.s.releaseLease(ctx, leaseFeedJobs)
	}
	for {
		if v.s.storeIsShared() {
			v.s.whileLeased(ctx, leaseFeedJobs, v.runPending)
		} else {
			v.runPending(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-v.jobs.wake:
		case <-time.After(poll):
		}
	}
}

// runPending runs the jobs not yet done, oldest first.
func (v *vulns) runPending(ctx context.Context) {
	jobs, err := v.s.store.PendingFeedJobs(ctx)
	if err != nil && ctx.Err() == nil {
		v.s.log.Error("list feed jobs", "err", err)
	}
	if len(jobs) > 0 && v.s.storeIsShared() {
		// A job stored by another replica matches with its import's
		// advisories: bring the index to at least its generation.
		if err := v.catchUp(ctx); err != nil {
			if ctx.Err() == nil {
				v.s.log.Warn("follow advisory changes", "err", err)
			}
			return
		}
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		v.runJob(ctx, j)
	}
}

func (v *vulns) runJob(ctx context.Context, j store.FeedJob) {
	defer v.jobEnded()
	if err := v.s.store.StartFeedJob(ctx, j.ID, v.s.now()); err != nil {
		v.s.log.Error("start feed job", "job", j.ID, "err", err)
		return
	}
	res, err := v.matchKeys(ctx, j.Keys)
	if err == nil {
		var n int
		n, err = v.s.store.RescoreAdvisories(ctx, j.Advisories, v.score)
		res.Rescored += n
	}
	if err == nil && len(j.CVEs) > 0 {
		var n int
		n, err = v.s.store.RescoreCVEs(ctx, j.CVEs, v.score)
		res.Rescored += n
	}
	msg := ""
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: the job stays running and resumes at the next start
		}
		msg = err.Error()
		v.s.log.Error("feed job failed", "job", j.ID, "feed", j.Feed, "err", err)
	}
	if err := v.s.store.FinishFeedJob(context.WithoutCancel(ctx), j.ID, res, msg, v.s.now()); err != nil {
		v.s.log.Error("finish feed job", "job", j.ID, "err", err)
		return
	}
	v.s.log.Info("feed job done", "job", j.ID, "feed", j.Feed, "keys", len(j.Keys), "tuples", res.Tuples, "hosts", res.Hosts,
		"opened", res.Opened, "resolved", res.Resolved, "reopened", res.Reopened, "updated", res.Updated, "rescored", res.Rescored)
}

// tuplesPerTx bounds the tuples one transaction of matchKeys applies, so
// check-ins interleave with a large job.
const tuplesPerTx = 200

// matchKeys matches again the tuples of the keys' package names in their
// releases and brings the findings of every host carrying them in line,
// set-based (store.ApplyTupleMatches), then rescores what it opened,
// reopened or updated.
func (v *vulns) matchKeys(ctx context.Context, keys []match.Key) (store.FeedJobResult, error) {
	var res store.FeedJobResult
	type release struct{ distro, release string }
	byRelease := map[release][]match.Key{}
	var order []release
	for _, k := range keys {
		r := release{k.Distro, k.Release}
		if _, ok := byRelease[r]; !ok {
			order = append(order, r)
		}
		byRelease[r] = append(byRelease[r], k)
	}
	hosts := map[string]bool{}
	for _, r := range order {
		pkgs := make([]string, 0, len(byRelease[r]))
		for _, k := range byRelease[r] {
			pkgs = append(pkgs, k.Package)
		}
		tuples, err := v.s.store.ReleaseTuples(ctx, r.distro, r.release, pkgs)
		if err != nil {
			return res, err
		}
		ord := releaseOrdering(r.distro)
		fixAvailable := func(update, fixed string) bool {
			c, err := version.Compare(ord, update, fixed)
			return err == nil && c >= 0
		}
		for start := 0; start < len(tuples); start += tuplesPerTx {
			batch := tuples[start:min(start+tuplesPerTx, len(tuples))]
			tms := make([]store.TupleMatches, len(batch))
			for i, t := range batch {
				ms, _ := v.index.Match(t.Tuple) // unreadable versions are skipped, as reconcile does
				tms[i] = store.TupleMatches{PVTuple: t, Matches: ms}
			}
			applied, err := v.applyTuples(ctx, r.distro, r.release, tms, fixAvailable)
			if err != nil {
				return res, err
			}
			res.Tuples += applied.Tuples
			res.Opened += applied.Opened
			res.Resolved += applied.Resolved
			res.Reopened += applied.Reopened
			res.Updated += applied.Updated
			for _, h := range applied.Hosts {
				hosts[h] = true
			}
			n, err := v.s.store.RescoreFindings(ctx, applied.Findings, v.score)
			if err != nil {
				return res, err
			}
			res.Rescored += n
		}
	}
	res.Hosts = len(hosts)
	return res, nil
}

// applyTuples holds the reconciliation lock, so a host's own reconcile
// never interleaves with a set-based one.
func (v *vulns) applyTuples(ctx context.Context, distro, release string, tms []store.TupleMatches,
	fixAvailable func(update, fixed string) bool) (store.TuplesApplied, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.s.store.ApplyTupleMatches(ctx, distro, release, tms, fixAvailable, v.s.now())
}

// releaseOrdering is the version ordering of a distribution's packages:
// the one reconcile takes from the host's package format.
func releaseOrdering(distro string) version.Ecosystem {
	switch distro {
	case "ubuntu", "debian":
		return version.Dpkg
	case "almalinux", "rocky", "rhel":
		return version.RPM
	case "alpine":
		return version.Apk
	}
	return version.Generic
}

// waitJob blocks until the job is done or failed, or ctx ends.
func (v *vulns) waitJob(ctx context.Context, id string) (store.FeedJob, error) {
	for {
		ended := v.endedSignal()
		j, err := v.s.store.GetFeedJob(ctx, id)
		if err != nil {
			return j, err
		}
		if j.State == store.FeedJobDone || j.State == store.FeedJobFailed {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-ended:
		case <-time.After(time.Second): // the job may run on another replica
		}
	}
}

func feedJobView(j store.FeedJob) *api.FeedJob {
	out := &api.FeedJob{ID: j.ID, Feed: j.Feed, State: j.State, CreatedAt: j.CreatedAt, Keys: len(j.Keys), Tuples: j.Result.Tuples,
		Hosts: j.Result.Hosts, Opened: j.Result.Opened, Resolved: j.Result.Resolved, Reopened: j.Result.Reopened,
		Updated: j.Result.Updated, Rescored: j.Result.Rescored, Error: j.Error}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		out.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

// handleGetFeedJob answers one feed job; ?wait=true answers when it has
// ended (or the request's deadline passes).
func (s *Server) handleGetFeedJob(w http.ResponseWriter, r *http.Request) error {
	wait, err := queryBool(r, "wait")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var j store.FeedJob
	if wait {
		j, err = s.vulns.waitJob(r.Context(), id)
	} else {
		j, err = s.store.GetFeedJob(r.Context(), id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, 200, feedJobView(j))
}

// handleListFeedJobs answers the newest feed jobs (?limit=, default 20).
func (s *Server) handleListFeedJobs(w http.ResponseWriter, r *http.Request) error {
	limit := 20
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return errBadRequest("limit must be 1 to 1000")
		}
		limit = n
	}
	jobs, err := s.store.ListFeedJobs(r.Context(), limit)
	if err != nil {
		return err
	}
	page := api.Page[api.FeedJob]{Items: []api.FeedJob{}, Total: len(jobs)}
	for _, j := range jobs {
		page.Items = append(page.Items, *feedJobView(j))
	}
	return writeJSON(w, 200, page)
}

// finishImport waits for the import's job when the caller asked to, and
// turns the result into its API view.
func (s *Server) finishImport(ctx context.Context, res ImportResult, wait bool) (api.ImportResult, error) {
	if res.Job != nil && wait {
		j, err := s.vulns.waitJob(ctx, res.Job.ID)
		if err != nil {
			return api.ImportResult{}, err
		}
		if j.State == store.FeedJobFailed {
			return api.ImportResult{}, errors.New("matching after the import failed: " + j.Error)
		}
		res.Job = &j
		res.HostsReconciled, res.Rescored = j.Result.Hosts, j.Result.Rescored
	}
	return importResultView(res), nil
}
