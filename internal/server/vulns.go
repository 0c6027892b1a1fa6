package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/risk"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/version"
)

// vulns keeps the matcher's index in memory and reconciles hosts'
// findings: after a check-in (queued, so check-ins stay fast) and after a
// feed import (for the hosts carrying the packages the feed changed).
type vulns struct {
	s     *Server
	index *match.Index
	sla   risk.SLAPolicy

	mu     sync.Mutex    // one reconciliation at a time
	wake   chan struct{} // a host was marked to reconcile (capacity 1: a pending wake-up covers any number of marks)
	loaded chan struct{}
	once   sync.Once

	jobs jobSignals // feed jobs: wake the runner, tell waiters one ended

	// Following other replicas' imports (leader.go): the advisory
	// generation and content hashes the index was last brought to.
	followMu sync.Mutex
	gen      int64
	hashes   map[string]string
}

func newVulns(s *Server) *vulns {
	return &vulns{s: s, index: match.NewIndex(), sla: risk.DefaultSLA(), wake: make(chan struct{}, 1), loaded: make(chan struct{}),
		jobs: newJobSignals()}
}

// load fills the index from the store, noting the advisory generation
// and content hashes it starts from (catchUp, leader.go).
func (v *vulns) load(ctx context.Context) error {
	v.followMu.Lock()
	defer v.followMu.Unlock()
	// The generation is read first: a write after it moves it, and the
	// next catchUp loads what it changed.
	gen, err := v.s.store.AdvisoryGeneration(ctx)
	if err != nil {
		return err
	}
	var hashes map[string]string
	if v.s.storeIsShared() { // only replicas that follow others need them (catchUp)
		if hashes, err = v.s.store.AdvisoryHashes(ctx); err != nil {
			return err
		}
	}
	var advs []advisory.Advisory
	err = v.s.store.AllAdvisoryData(ctx, func(id string, data []byte) error {
		var a advisory.Advisory
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("stored advisory %s: %w", id, err)
		}
		advs = append(advs, a)
		return nil
	})
	if err != nil {
		return err
	}
	v.index.Put(advs...)
	v.gen, v.hashes = gen, hashes
	v.once.Do(func() { close(v.loaded) })
	v.s.log.Info("advisory index loaded", "advisories", v.index.Len())
	return nil
}

// decodeStored reads the stored advisories ids.
func (v *vulns) decodeStored(ctx context.Context, ids []string) ([]advisory.Advisory, error) {
	advs := make([]advisory.Advisory, 0, len(ids))
	err := v.s.store.AdvisoryDataOf(ctx, ids, func(id, _ string, data []byte) error {
		var a advisory.Advisory
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("stored advisory %s: %w", id, err)
		}
		advs = append(advs, a)
		return nil
	})
	return advs, err
}

// Hosts to reconcile live in the store's durable set (hosts_to_reconcile):
// check-ins mark their host in their own transaction, mark marks others.
// run drains the set in batches; a host's mark goes only after its
// reconcile committed, and stays if the host was marked again meanwhile,
// so nothing is dropped however busy the server is, and a restarted
// server carries on with what the last one left.
const (
	reconcileBatch = 256
	// doneEvery is how many reconciled hosts' marks are cleared together.
	doneEvery = 32
	// reconcileRetry puts off a host whose reconcile failed.
	reconcileRetry = time.Minute
	// reconcilePoll bounds how long a mark waits when no wake-up comes
	// (a mark by another replica, or one put off after a failure).
	reconcilePoll = 30 * time.Second
	// reconcileClaim is how long a replica's claim on a batch of marks
	// keeps the other replicas off them (store.ClaimHostsToReconcile).
	reconcileClaim = 5 * time.Minute
)

// run reconciles the marked hosts until ctx ends.
func (v *vulns) run(ctx context.Context) {
	poll := time.NewTicker(reconcilePoll)
	defer poll.Stop()
	for {
		for v.drainBatch(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-v.wake:
		case <-poll.C:
		}
	}
}

// drainBatch reconciles one batch of marked hosts and says whether the
// batch was full (so more may wait). Marks are cleared doneEvery hosts at
// a time, in one transaction.
func (v *vulns) drainBatch(ctx context.Context) bool {
	if v.s.storeIsShared() {
		// Match with what other replicas imported up to now.
		if err := v.catchUp(ctx); err != nil && ctx.Err() == nil {
			v.s.log.Warn("follow advisory changes", "err", err)
		}
	}
	var marks []store.ReconcileMark
	var err error
	if v.s.storeIsShared() {
		// Other replicas drain the same set: claim the batch.
		marks, err = v.s.store.ClaimHostsToReconcile(ctx, v.s.now(), reconcileClaim, reconcileBatch)
	} else {
		marks, err = v.s.store.HostsToReconcile(ctx, v.s.now(), reconcileBatch)
	}
	if err != nil {
		if ctx.Err() == nil {
			v.s.log.Error("read hosts to reconcile", "err", err)
		}
		return false
	}
	var done []store.ReconcileMark
	flush := func() {
		if _, err := v.s.store.DoneReconciling(ctx, done...); err != nil && ctx.Err() == nil {
			v.s.log.Error("clear reconcile marks", "hosts", len(done), "err", err)
		}
		done = done[:0]
	}
	defer flush()
	for _, m := range marks {
		if ctx.Err() != nil {
			return false
		}
		if err := v.reconcile(ctx, m.HostID); err != nil {
			if ctx.Err() != nil {
				return false
			}
			v.s.log.Error("reconcile findings", "host", m.HostID, "err", err, "retry_in", reconcileRetry)
			if err := v.s.store.PutOffReconciling(ctx, m, v.s.now().Add(reconcileRetry)); err != nil && ctx.Err() == nil {
				v.s.log.Error("put off reconciling", "host", m.HostID, "err", err)
			}
			continue
		}
		if done = append(done, m); len(done) == doneEvery {
			flush()
		}
	}
	return len(marks) == reconcileBatch
}

// mark adds hosts to the durable set and wakes the worker.
func (v *vulns) mark(ctx context.Context, hostIDs ...string) error {
	if err := v.s.store.MarkHostsToReconcile(ctx, v.s.now(), hostIDs...); err != nil {
		return fmt.Errorf("mark hosts to reconcile: %w", err)
	}
	v.poke()
	return nil
}

// poke wakes the worker after marks were stored (by a check-in's own
// transaction, or by mark).
func (v *vulns) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// enqueue marks a host to reconcile, for callers without a request
// context of their own to give (the mark is stored before it returns).
func (v *vulns) enqueue(hostID string) {
	if err := v.mark(context.Background(), hostID); err != nil {
		v.s.log.Error("mark host to reconcile", "host", hostID, "err", err)
	}
}

func formatOrdering(f inventory.Format) version.Ecosystem {
	switch f {
	case inventory.FormatDpkg:
		return version.Dpkg
	case inventory.FormatRPM:
		return version.RPM
	case inventory.FormatApk:
		return version.Apk
	}
	return version.Generic
}

// reconcile matches the host's unmatched package versions, brings its
// findings in line and rescores them.
func (v *vulns) reconcile(ctx context.Context, hostID string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, err := v.s.store.GetHost(ctx, hostID)
	if err != nil {
		return err
	}
	if h.RevokedAt != nil {
		return nil
	}
	distro, release, ok := match.Release(h.Facts.OS.ID, h.Facts.OS.VersionID)
	if !ok {
		return nil // no feed covers this distribution
	}
	tuples, err := v.s.store.UnmatchedTuples(ctx, hostID, distro, release)
	if err != nil {
		return err
	}
	if len(tuples) > 0 {
		results := make(map[int64][]match.Match, len(tuples))
		bad := 0
		for _, t := range tuples {
			ms, errs := v.index.Match(t.Tuple)
			bad += len(errs)
			results[t.PVID] = ms
		}
		if bad > 0 {
			v.s.log.Warn("versions the ordering cannot read were skipped", "host", hostID, "count", bad)
		}
		if err := v.s.store.SaveMatches(ctx, distro, release, results); err != nil {
			return err
		}
	}
	ord := formatOrdering(h.Facts.PackageFormat)
	fixAvailable := func(update, fixed string) bool {
		c, err := version.Compare(ord, update, fixed)
		return err == nil && c >= 0
	}
	now := v.s.now()
	r, err := v.s.store.ReconcileFindingsCause(ctx, hostID, distro, release, fixAvailable, v.s.jobCause(ctx, hostID, now), now)
	if err != nil {
		return err
	}
	if _, err := v.s.store.Rescore(ctx, hostID, v.score); err != nil {
		return err
	}
	if r != (store.Reconciled{}) {
		v.s.log.Info("findings reconciled", "host", hostID, "opened", r.Opened, "resolved", r.Resolved, "reopened", r.Reopened, "updated", r.Updated)
	}
	return nil
}

// score turns what the store knows about a finding into its priority and
// due date. Criticality, exposure and the SLA policy come from the host's
// groups (patchbay apply); a host in no group falls back to its labels
// "criticality" (1–5) and "exposure" ("internet") and the default policy.
func (v *vulns) score(in store.ScoreInput) store.Score {
	eff := v.s.hostContext(in.HostLabels, in.HostID, in.Hostname, in.HostnameShared)
	crit := eff.Criticality
	if crit == 0 {
		crit, _ = strconv.Atoi(in.HostLabels["criticality"])
		if crit < 1 || crit > 5 {
			crit = 0
		}
	}
	exposure := eff.Exposure
	if exposure == "" {
		exposure = strings.ToLower(in.HostLabels["exposure"])
	}
	res := risk.Score(risk.Input{
		CVSS: in.CVSS, FeedSeverity: risk.SeverityFromWord(in.Severity), KEV: in.KEV, Ransomware: in.Ransomware,
		EPSS: in.EPSS, EPSSPercentile: in.EPSSPercentile, Criticality: crit,
		InternetFacing: exposure == "internet" || exposure == "internet-facing", FixAvailable: in.FixAvailable,
	})
	sla := v.sla
	if len(eff.Groups) > 0 {
		sla = risk.SLAPolicy{Days: map[risk.Severity]int{}}
		for _, sev := range []risk.Severity{risk.SeverityCritical, risk.SeverityHigh, risk.SeverityMedium, risk.SeverityLow} {
			sla.Days[sev] = eff.Policy.SLADays(string(sev))
		}
		sla.KEVUseCISADue, sla.KEVMaxDays = eff.Policy.KEVRule()
	}
	due, why := sla.Due(res.Severity, in.FirstSeenAt, in.KEV, in.KEVDue)
	if len(eff.Groups) > 0 {
		why += " (policy of " + strings.Join(eff.Groups, ", ") + ")"
	}
	return store.Score{Severity: string(res.Severity), Priority: res.Priority, SSVC: string(res.SSVC),
		Reasons: append(res.Reasons, "SSVC "+res.SSVCPoints.String()+" → "+string(res.SSVC)), KEV: in.KEV, DueAt: &due, DueReason: why}
}

// ImportResult is what an import did.
type ImportResult struct {
	Feed            store.FeedStatus
	Kind            string
	ChangedIDs      int
	Delta           store.FeedDelta // what it added, changed and removed
	HostsReconciled int
	Rescored        int
	Job             *store.FeedJob // the matching it started; nil when nothing changed
}

// importFeed stores a feed read by package advisory in one transaction,
// together with a job that matches what changed (runJobs does it off the
// request path): the tuples of the packages the changed advisories name
// are matched again and the findings of all hosts carrying them follow;
// a KEV or EPSS update rescores the findings whose KEV entry or EPSS
// score changed. The index is updated before importFeed returns.
func (v *vulns) importFeed(ctx context.Context, f advisory.Feed, kind, origin string, replace bool) (ImportResult, error) {
	name := feedName(kind, f.Name)
	if len(f.Advisories) == 0 && f.Unchanged == 0 && len(f.KEV) == 0 && len(f.EPSS) == 0 {
		// Nothing to store: an error, and no feed is created.
		return ImportResult{}, errBadRequest(fmt.Sprintf("%s holds no valid %s record (%d rejected); nothing was imported", origin, kind, len(f.Rejected)))
	}
	in := store.FeedImport{Status: store.FeedStatus{Name: name, Kind: kind, Origin: origin}, Replace: replace}
	ctx = v.s.feedAudit(ctx, &in, "imported")
	st := &in.Status
	for _, r := range f.Rejected {
		st.Rejections = append(st.Rejections, store.Rejection{Record: r.Record, Reason: r.Reason})
	}
	st.Rejected, st.Duplicates = len(f.Rejected), f.Duplicates
	switch kind {
	case advisory.KindKEV:
		st.SnapshotAt, st.SnapshotVersion = f.KEVCatalog.Date, f.KEVCatalog.Version
		in.KEV = make([]store.KEV, 0, len(f.KEV))
		for _, k := range f.KEV {
			in.KEV = append(in.KEV, store.KEV{CVE: k.CVE, Vendor: k.Vendor, Product: k.Product, Name: k.Name,
				DateAdded: k.DateAdded.UTC(), DueDate: k.DueDate.UTC(), Ransomware: k.Ransomware})
		}
		st.Records = len(f.KEV)
	case advisory.KindEPSS:
		st.SnapshotAt, st.SnapshotVersion = f.EPSSModel.Date, f.EPSSModel.Version
		in.EPSS = make([]store.EPSS, 0, len(f.EPSS))
		for _, e := range f.EPSS {
			in.EPSS = append(in.EPSS, store.EPSS{CVE: e.CVE, Score: e.Score, Percentile: e.Percentile})
		}
		st.Records = len(f.EPSS)
	default:
		advs, err := storedAdvisories(f)
		if err != nil {
			return ImportResult{}, err
		}
		in.Advisories = advs
		st.Records = len(f.Advisories) + f.Unchanged
	}
	var delta store.FeedDelta
	describe := in.Describe
	in.Describe = func(d store.FeedDelta) { delta = d; describe(d) }
	byID := make(map[string]int, len(f.Advisories))
	for i, a := range f.Advisories {
		byID[a.ID] = i
	}
	var job *store.FeedJob
	in.Job = func(changedIDs, changedCVEs []string) (store.FeedJob, bool) {
		if len(changedIDs) == 0 && len(changedCVEs) == 0 {
			return store.FeedJob{}, false
		}
		changed := make([]advisory.Advisory, 0, len(changedIDs))
		for _, id := range changedIDs {
			changed = append(changed, f.Advisories[byID[id]])
		}
		j := store.FeedJob{ID: uuid.NewString(), Feed: name, State: store.FeedJobQueued, Keys: v.index.Keys(changed...),
			Advisories: changedIDs, CVEs: changedCVEs, CreatedAt: v.s.now()}
		job = &j
		return j, true
	}
	changedIDs, err := v.s.store.ImportFeed(ctx, in, v.s.now())
	if err != nil {
		if _, gerr := v.s.store.GetFeed(ctx, st.Name); gerr == nil {
			// An existing feed notes the failure; a failed first import
			// creates nothing.
			_ = v.s.store.RecordFeedError(ctx, st.Name, kind, origin, err.Error())
		}
		return ImportResult{}, fmt.Errorf("import %s: %w", st.Name, err)
	}
	res := ImportResult{Kind: kind, ChangedIDs: len(changedIDs), Delta: delta, Job: job}
	if len(changedIDs) > 0 {
		changed := make([]advisory.Advisory, 0, len(changedIDs))
		for _, id := range changedIDs {
			changed = append(changed, f.Advisories[byID[id]])
		}
		// Under followMu, so catchUp never puts back an older copy it read
		// before this import committed.
		v.followMu.Lock()
		v.index.Put(changed...)
		v.followMu.Unlock()
	}
	if job != nil {
		v.wakeJobs()
	}
	res.Feed, err = v.s.store.GetFeed(ctx, st.Name)
	v.s.log.Info("feed imported", "feed", st.Name, "records", st.Records, "changed", res.ChangedIDs, "rejected", st.Rejected,
		"unchanged_unparsed", f.Unchanged)
	return res, err
}

// storedAdvisories turns a feed's advisories into the store's rows,
// marshalling them on GOMAXPROCS goroutines (a large share of an
// import's CPU).
func storedAdvisories(f advisory.Feed) ([]store.Advisory, error) {
	out := make([]store.Advisory, len(f.Advisories))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(f.Advisories); i += workers {
				a := &f.Advisories[i]
				data, err := json.Marshal(a)
				if err != nil {
					errs[w] = err
					return
				}
				var cvss []string
				for _, sv := range a.Severity {
					if strings.HasPrefix(sv.Type, "CVSS_") {
						cvss = append(cvss, sv.Score)
					}
				}
				out[i] = store.Advisory{ID: a.ID, Source: a.Source, Published: a.Published, Modified: a.Modified, Withdrawn: a.Withdrawn,
					Severity: a.SeverityWord, Summary: a.Summary, CVSS: cvss, CVEs: a.CVEs, Data: data, RawHash: f.RawSums[a.ID]}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// waitLoaded blocks until the index is loaded (or ctx ends).
func (v *vulns) waitLoaded(ctx context.Context) error {
	select {
	case <-v.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reconcileAll queues every active host, after the index loads at start.
func (v *vulns) reconcileAll(ctx context.Context) error {
	hosts, err := v.s.store.ActiveHostReleases(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(hosts))
	for id := range hosts {
		ids = append(ids, id)
	}
	return v.mark(ctx, ids...)
}
