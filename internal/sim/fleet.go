package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
)

// Config is a simulated fleet.
type Config struct {
	Server      string
	EnrollToken string
	CAFile      string
	Hosts       int
	Packages    int           // packages per host; real lists are padded with derived names to reach it
	Interval    time.Duration // check-in interval of each host
	Changes     int           // packages changed per host between check-ins
	Duration    time.Duration // how long to run delta check-ins after the fleet is up
	Concurrency int           // enrollments and full reports in flight at once
	Bases       []Base
	Seed        uint64
	Logger      *slog.Logger
	// Jobs lets the simulated agents run signed jobs: an install sets the
	// package versions in the host's simulated inventory; OnInstall, when
	// set, is told of every install a host runs.
	Jobs      bool
	OnInstall func(hostname string, pkgs []protocol.JobPackage)
	// Fleets, when set, enroll consecutive hosts with different tokens
	// (and so different labels): Hosts and EnrollToken are then ignored.
	Fleets []Fleet
	// StateFile, when set, keeps the enrolled fleet between runs (see
	// state.go): a run resumes the hosts the file holds, without enrolling
	// them or sending full reports, and saves the fleet when the fleet is
	// up and again at the end.
	StateFile string
}

// Fleet is a run of hosts enrolled with one token.
type Fleet struct {
	Hosts       int
	EnrollToken string
}

// Report holds the figures of a run.
type Report struct {
	Hosts    int
	Packages int
	Resumed  int // hosts taken from the state file, neither enrolled nor fully reported
	// Enrollments time each enrollment request, FullReports each host's
	// first check-in (its full inventory), Deltas the check-ins at the
	// interval after the fleet is up; each over its own phase.
	Enrollments, FullReports, Deltas Latency
	EnrollFailures                   int           // enrollments and full reports that failed
	FullPackages                     int           // packages in the full reports
	FullTime                         time.Duration // enrollment and full reports of the hosts not resumed
	DistinctVersions                 int           // distinct (name, version, arch) over the fleet's inventories when the fleet is up
	// Requests after the fleet is up, timed per request (to the response
	// headers): check-ins, which are how agents poll for jobs, and job
	// result reports.
	Checkins     Latency
	JobResults   Latency
	JobsRun      int
	FirstJobAt   time.Time // when the first job began on any host
	LastResultAt time.Time // when the last job result was acknowledged
}

// Latency summarises timed requests.
type Latency struct {
	N, Failures        int
	P50, P90, P99, Max time.Duration
	Span               time.Duration // the phase the requests ran in, for throughput
}

// PerSecond is the requests answered per second of the phase.
func (l Latency) PerSecond() float64 {
	if l.Span <= 0 {
		return 0
	}
	return float64(l.N) / l.Span.Seconds()
}

func (l Latency) String() string {
	return fmt.Sprintf("%d (%d failed, %.1f/s), latency p50 %s p90 %s p99 %s max %s", l.N, l.Failures, l.PerSecond(),
		l.P50.Round(10*time.Microsecond), l.P90.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond))
}

// String renders the report for people; bench/checkin.sh reads its
// "enrollment:", "full reports:" and "delta check-ins:" lines.
func (r Report) String() string {
	rate := 0.0
	if r.FullTime > 0 {
		rate = float64(r.FullPackages) / r.FullTime.Seconds()
	}
	return fmt.Sprintf("hosts %d (~%d packages each, %d distinct package versions), %d resumed from the state file;\n"+
		"enrollment: %s;\nfull reports: %s;\n"+
		"enroll+full report of %d hosts in %s (%d failures), %.0f packages/s;\n"+
		"delta check-ins: %s",
		r.Hosts, r.Packages, r.DistinctVersions, r.Resumed, r.Enrollments, r.FullReports,
		r.Hosts-r.Resumed, r.FullTime.Round(time.Millisecond), r.EnrollFailures, rate,
		r.Deltas) + r.jobsString()
}

func (r Report) jobsString() string {
	if r.JobsRun == 0 && r.JobResults.N == 0 {
		return ""
	}
	return fmt.Sprintf(";\ncheck-in requests (job polls): %s;\njob result reports: %s;\njobs run: %d, first began %s, last result acknowledged %s (%s)",
		r.Checkins, r.JobResults, r.JobsRun, r.FirstJobAt.UTC().Format(time.RFC3339Nano), r.LastResultAt.UTC().Format(time.RFC3339Nano),
		r.LastResultAt.Sub(r.FirstJobAt).Round(time.Millisecond))
}

// host is one simulated host: the agent and the package set it reports.
type host struct {
	index int
	name  string
	state *agent.MemState
	agent *agent.Agent
	coll  *collector
}

// collector serves a host's package set and changes it on demand.
type collector struct {
	mu    sync.Mutex
	facts inventory.Facts
	pkgs  []inventory.Package
	rng   *rand.Rand
	// bumps counts the upgrades change made to each package (by index in
	// pkgs), and acked holds bumps as of the last check-in the server
	// acknowledged: with the host's seed they rebuild the package set the
	// server holds, which is what the state file saves.
	bumps, acked map[int]int
	// installed says a job changed the packages in a way bumps cannot
	// say: the state file then makes the host send a full report.
	installed bool
	// unsure says the last check-in failed, perhaps after the server
	// stored it: acked may then be behind what the agent saved.
	unsure bool
}

func (c *collector) Collect(context.Context) (inventory.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return inventory.Snapshot{Facts: c.facts, Packages: slices.Clone(c.pkgs)}, nil
}

// change upgrades n random packages, as an unattended upgrade would.
func (c *collector) change(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		i := c.rng.IntN(len(c.pkgs))
		c.pkgs[i].Version = bump(c.pkgs[i].Version)
		c.bumps[i]++
	}
}

// ack notes that the server holds the current package set.
func (c *collector) ack() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked = maps.Clone(c.bumps)
	c.unsure = false
}

// failed notes a check-in that returned an error.
func (c *collector) failed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unsure = true
}

func bump(v string) string {
	return v + ".1"
}

// maxLag bounds how many updates ahead of its base list one package of a
// host may be.
const maxLag = 24

// patchLag draws how many updates of a package a host has taken since the
// base list was captured. Real fleets are patched unevenly: most hosts
// are a few updates along, a long tail is further. The draw is geometric,
// P(lag = n) = 0.3 × 0.7^n, so among the ~1,000 hosts of one base in a
// 10,000-host fleet (ten base lists) about 16 lags appear for every
// package: the fleet carries some 10 × 1,000 × 16 ≈ 160,000 distinct
// package versions (at least the 100,000 issue 14 asks for), where a
// fleet of identical lists would carry 10,000.
func patchLag(rng *rand.Rand) int {
	n := 0
	for n < maxLag && rng.IntN(10) >= 3 {
		n++
	}
	return n
}

// newHost builds host i from a base list, padded to n packages, each
// package patchLag updates ahead of the base ("1.2-3" taken 2 updates on
// is "1.2-3.2"), so that hosts do not all hold the same versions.
func newHost(i int, b Base, n int, seed uint64) *collector {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	pkgs := slices.Clone(b.Packages)
	for j := 0; len(pkgs) < n && len(b.Packages) > 0; j++ {
		src := b.Packages[j%len(b.Packages)]
		p := src
		p.Name = src.Name + "-extra" + strconv.Itoa(j/len(b.Packages)+1)
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(a, c int) bool { return pkgs[a].Name < pkgs[c].Name })
	for k := range pkgs {
		if lag := patchLag(rng); lag > 0 {
			pkgs[k].Version += "." + strconv.Itoa(lag)
		}
	}
	name := fmt.Sprintf("sim-%s-%05d", b.Name, i)
	return &collector{
		rng: rng,
		facts: inventory.Facts{Hostname: name, OS: b.OS, Kernel: "5.15.0-sim", Arch: "x86_64",
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, Uptime: time.Duration(rng.IntN(1e6)) * time.Second,
			PackageFormat: b.Format},
		pkgs:  pkgs,
		bumps: map[int]int{},
		acked: map[int]int{},
	}
}

// distinctVersions counts the distinct (name, version, arch) the hosts
// carry.
func distinctVersions(hosts []*host) int {
	seen := map[[3]string]struct{}{}
	for _, h := range hosts {
		h.coll.mu.Lock()
		for _, p := range h.coll.pkgs {
			seen[[3]string{p.Name, p.Version, p.Arch}] = struct{}{}
		}
		h.coll.mu.Unlock()
	}
	return len(seen)
}

// Run enrolls the fleet (or resumes it from the state file), sends every
// new host's full report, then runs delta check-ins at the interval for
// the duration, and reports the figures.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if len(cfg.Fleets) > 0 {
		cfg.Hosts = 0
		for _, f := range cfg.Fleets {
			cfg.Hosts += f.Hosts
		}
	} else {
		cfg.Fleets = []Fleet{{Hosts: cfg.Hosts, EnrollToken: cfg.EnrollToken}}
	}
	if cfg.Hosts < 1 || len(cfg.Bases) == 0 {
		return Report{}, fmt.Errorf("sim needs at least one host and one package list")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 16
	}
	var saved *savedFleet
	if cfg.StateFile != "" {
		var err error
		if saved, err = loadState(cfg.StateFile, cfg); err != nil {
			return Report{}, err
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 4
	reqs := &requestTimes{}
	hosts := make([]*host, cfg.Hosts)
	rep := Report{Hosts: cfg.Hosts, Packages: cfg.Packages}
	fleet, left := 0, cfg.Fleets[0].Hosts
	for i := range hosts {
		for left == 0 {
			fleet++
			left = cfg.Fleets[fleet].Hosts
		}
		left--
		c := newHost(i, cfg.Bases[i%len(cfg.Bases)], cfg.Packages, cfg.Seed)
		st := &agent.MemState{}
		if saved != nil && i < len(saved.Hosts) {
			if err := saved.restore(i, c, st); err != nil {
				return rep, err
			}
			rep.Resumed++
		}
		ac := agent.Config{Server: cfg.Server, EnrollToken: cfg.Fleets[fleet].EnrollToken, CAFile: cfg.CAFile,
			State: st, Collector: c, Logger: cfg.Logger, Transport: transport, Observe: reqs.observe}
		if cfg.Jobs {
			ac.Executor = &executor{coll: c, onInstall: cfg.OnInstall, reqs: reqs}
			ac.Journal, ac.Seq, ac.Hooks = &agent.MemJournal{}, &agent.MemSeq{}, agent.Hooks{}
			ac.Results = &agent.MemResults{}
		}
		a, err := agent.New(ac)
		if err != nil {
			return rep, err
		}
		hosts[i] = &host{index: i, name: c.facts.Hostname, state: st, agent: a, coll: c}
	}

	// Phase 1: enroll and send the full report, Concurrency at a time,
	// for the hosts the state file did not hold.
	start := time.Now()
	var mu sync.Mutex
	enrolls, fulls := &latencies{}, &latencies{}
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for _, h := range hosts {
		if h.agent.HostID() != "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			err := h.agent.Enroll(ctx, h.name)
			enrolls.add(time.Since(t0), err)
			if err != nil {
				cfg.Logger.Warn("enroll failed", "host", h.name, "err", err)
				mu.Lock()
				rep.EnrollFailures++
				mu.Unlock()
				return
			}
			t0 = time.Now()
			_, err = h.agent.CheckinOnce(ctx)
			fulls.add(time.Since(t0), err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				cfg.Logger.Warn("full report failed", "host", h.name, "err", err)
				h.coll.failed()
				rep.EnrollFailures++
				return
			}
			h.coll.ack()
			rep.FullPackages += len(h.coll.pkgs)
		}()
	}
	wg.Wait()
	rep.FullTime = time.Since(start)
	rep.Enrollments, rep.FullReports = enrolls.summary(rep.FullTime), fulls.summary(rep.FullTime)
	rep.DistinctVersions = distinctVersions(hosts)
	if cfg.StateFile != "" {
		if err := saveState(cfg.StateFile, cfg, hosts); err != nil {
			return rep, err
		}
	}
	if ctx.Err() != nil || cfg.Duration <= 0 {
		return rep, ctx.Err()
	}
	cfg.Logger.Info("fleet up: every host enrolled and reported", "hosts", rep.Hosts, "resumed", rep.Resumed,
		"failures", rep.EnrollFailures, "took", rep.FullTime)
	reqs.start()

	// Phase 2: every host checks in once per interval, spread evenly, each
	// time with a few changed packages.
	deltas := &latencies{}
	deltaStart := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	// Slots over the interval go to hosts in a shuffled order, so that
	// hosts enrolled together (one fleet, one ring) do not all check in at
	// the same moment of the interval.
	slot := rand.New(rand.NewPCG(cfg.Seed, 0x5107)).Perm(len(hosts))
	for i, h := range hosts {
		if h.agent.HostID() == "" {
			continue
		}
		offset := time.Duration(int64(cfg.Interval) * int64(slot[i]) / int64(len(hosts)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepCtx(runCtx, offset) {
				return
			}
			tick := time.NewTicker(cfg.Interval)
			defer tick.Stop()
			for {
				h.coll.change(cfg.Changes)
				t0 := time.Now()
				_, err := h.agent.CheckinOnce(runCtx)
				if runCtx.Err() != nil {
					return
				}
				deltas.add(time.Since(t0), err)
				if err == nil {
					h.coll.ack()
				} else {
					h.coll.failed()
				}
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	rep.Deltas = deltas.summary(time.Since(deltaStart))
	reqs.report(&rep)
	if cfg.StateFile != "" {
		if err := saveState(cfg.StateFile, cfg, hosts); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// requestTimes collects the agents' request latencies by path once the
// fleet is up, and when jobs ran.
type requestTimes struct {
	mu                sync.Mutex
	on                bool
	began             time.Time
	checkins, results latencies
	jobs              int
	first, last       time.Time
}

func (r *requestTimes) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = true
	r.began = time.Now()
}

func (r *requestTimes) observe(path string, took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	switch path {
	case protocol.PathCheckin:
		r.checkins.addLocked(took, err)
	case protocol.PathJobResult:
		r.results.addLocked(took, err)
		if err == nil {
			r.last = time.Now()
		}
	}
}

func (r *requestTimes) jobRan() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == 0 {
		r.first = time.Now()
	}
	r.jobs++
}

func (r *requestTimes) report(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	span := time.Since(r.began)
	rep.Checkins, rep.JobResults = r.checkins.summary(span), r.results.summary(span)
	rep.JobsRun, rep.FirstJobAt, rep.LastResultAt = r.jobs, r.first, r.last
}

type latencies struct {
	mu       sync.Mutex
	d        []time.Duration
	failures int
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(d, err)
}

func (l *latencies) addLocked(d time.Duration, err error) {
	if err != nil {
		l.failures++
		return
	}
	l.d = append(l.d, d)
}

// summary gives the percentiles of the requests that succeeded, over a
// phase of the given length.
func (l *latencies) summary(span time.Duration) Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Latency{N: len(l.d), Failures: l.failures, Span: span}
	if len(l.d) == 0 {
		return s
	}
	d := slices.Clone(l.d)
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	s.P50, s.P90, s.P99, s.Max = at(0.50), at(0.90), at(0.99), d[len(d)-1]
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// executor carries out a simulated host's jobs on its simulated inventory.
type executor struct {
	coll      *collector
	onInstall func(string, []protocol.JobPackage)
	reqs      *requestTimes
}

func (e *executor) Install(_ context.Context, pkgs []protocol.JobPackage) ([]byte, error) {
	e.reqs.jobRan()
	e.coll.mu.Lock()
	e.coll.installed = true
	for _, p := range pkgs {
		for i := range e.coll.pkgs {
			if e.coll.pkgs[i].Name == p.Name && (p.Arch == "" || e.coll.pkgs[i].Arch == p.Arch) {
				e.coll.pkgs[i].Version = p.Version
			}
		}
	}
	name := e.coll.facts.Hostname
	e.coll.mu.Unlock()
	if e.onInstall != nil {
		e.onInstall(name, pkgs)
	}
	return []byte("simulated install\n"), nil
}

func (e *executor) Reboot(context.Context) error                  { return nil }
func (e *executor) Run(context.Context, []string) ([]byte, error) { return nil, nil }
func (e *executor) Repair(context.Context) error                  { return nil }
