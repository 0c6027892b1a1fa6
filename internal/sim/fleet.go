package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
}

// Fleet is a run of hosts enrolled with one token.
type Fleet struct {
	Hosts       int
	EnrollToken string
}

// Report holds the figures of a run.
type Report struct {
	Hosts          int
	Packages       int
	EnrollTime     time.Duration
	EnrollFailures int
	FullReports    int
	FullPackages   int
	FullTime       time.Duration
	Deltas         int
	DeltaFailures  int
	DeltaP50       time.Duration
	DeltaP99       time.Duration
	DeltaMax       time.Duration
	FullP50        time.Duration
	FullP99        time.Duration
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
	N, Failures   int
	P50, P99, Max time.Duration
}

func (l Latency) String() string {
	return fmt.Sprintf("%d (%d failed), latency p50 %s p99 %s max %s", l.N, l.Failures, l.P50, l.P99, l.Max)
}

// String renders the report for people.
func (r Report) String() string {
	rate := 0.0
	if r.FullTime > 0 {
		rate = float64(r.FullPackages) / r.FullTime.Seconds()
	}
	return fmt.Sprintf("hosts %d (~%d packages each); enroll+full report of all hosts in %s (%d enroll failures);\n"+
		"full-inventory ingest: %d reports, %d packages, %.0f packages/s, %.1f hosts/s, latency p50 %s p99 %s;\n"+
		"delta check-ins: %d (%d failed), latency p50 %s p99 %s max %s",
		r.Hosts, r.Packages, r.FullTime.Round(time.Millisecond), r.EnrollFailures,
		r.FullReports, r.FullPackages, rate, float64(r.FullReports)/max(r.FullTime.Seconds(), 1e-9), r.FullP50, r.FullP99,
		r.Deltas, r.DeltaFailures, r.DeltaP50, r.DeltaP99, r.DeltaMax) + r.jobsString()
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
	name  string
	agent *agent.Agent
	coll  *collector
}

// collector serves a host's package set and changes it on demand.
type collector struct {
	mu    sync.Mutex
	facts inventory.Facts
	pkgs  []inventory.Package
	rng   *rand.Rand
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
	}
}

func bump(v string) string {
	return v + ".1"
}

// newHost builds host i from a base list, padded to n packages, with a
// spread of versions so that hosts do not all hold the same tuples.
func newHost(i int, b Base, n int, seed uint64) *collector {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	pkgs := slices.Clone(b.Packages)
	for j := 0; len(pkgs) < n && len(b.Packages) > 0; j++ {
		src := b.Packages[j%len(b.Packages)]
		p := src
		p.Name = src.Name + "-extra" + strconv.Itoa(j/len(b.Packages)+1)
		pkgs = append(pkgs, p)
	}
	for k := range pkgs {
		if rng.IntN(10) == 0 { // one package in ten is a version behind or ahead
			pkgs[k].Version = bump(pkgs[k].Version)
		}
	}
	sort.Slice(pkgs, func(a, c int) bool { return pkgs[a].Name < pkgs[c].Name })
	name := fmt.Sprintf("sim-%s-%05d", b.Name, i)
	return &collector{
		rng: rng,
		facts: inventory.Facts{Hostname: name, OS: b.OS, Kernel: "5.15.0-sim", Arch: "x86_64",
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, Uptime: time.Duration(rng.IntN(1e6)) * time.Second,
			PackageFormat: b.Format},
		pkgs: pkgs,
	}
}

// Run enrolls the fleet, sends every host's full report, then runs delta
// check-ins at the interval for the duration, and reports the figures.
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
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 4
	timer := &latencies{}
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
		ac := agent.Config{Server: cfg.Server, EnrollToken: cfg.Fleets[fleet].EnrollToken, CAFile: cfg.CAFile,
			State: &agent.MemState{}, Collector: c, Logger: cfg.Logger, Transport: transport, Observe: reqs.observe}
		if cfg.Jobs {
			ac.Executor = &executor{coll: c, onInstall: cfg.OnInstall, reqs: reqs}
			ac.Journal, ac.Seq, ac.Hooks = &agent.MemJournal{}, &agent.MemSeq{}, agent.Hooks{}
			ac.Results = &agent.MemResults{}
		}
		a, err := agent.New(ac)
		if err != nil {
			return rep, err
		}
		hosts[i] = &host{name: c.facts.Hostname, agent: a, coll: c}
	}

	// Phase 1: enroll and send the full report, Concurrency at a time.
	start := time.Now()
	var mu sync.Mutex
	var fullLat []time.Duration
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := h.agent.Enroll(ctx, h.name); err != nil {
				cfg.Logger.Warn("enroll failed", "host", h.name, "err", err)
				mu.Lock()
				rep.EnrollFailures++
				mu.Unlock()
				return
			}
			t0 := time.Now()
			_, err := h.agent.CheckinOnce(ctx)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				cfg.Logger.Warn("full report failed", "host", h.name, "err", err)
				rep.EnrollFailures++
				return
			}
			rep.FullReports++
			rep.FullPackages += len(h.coll.pkgs)
			fullLat = append(fullLat, d)
		}()
	}
	wg.Wait()
	rep.FullTime = time.Since(start)
	rep.FullP50, rep.FullP99, _ = percentiles(fullLat)
	if ctx.Err() != nil || cfg.Duration <= 0 {
		return rep, ctx.Err()
	}
	cfg.Logger.Info("fleet up: every host enrolled and reported", "hosts", rep.FullReports, "failures", rep.EnrollFailures, "took", rep.FullTime)
	reqs.start()

	// Phase 2: every host checks in once per interval, spread evenly, each
	// time with a few changed packages.
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
				timer.add(time.Since(t0), err)
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	rep.Deltas, rep.DeltaFailures = len(timer.d), timer.failures
	rep.DeltaP50, rep.DeltaP99, rep.DeltaMax = percentiles(timer.d)
	reqs.report(&rep)
	return rep, nil
}

// requestTimes collects the agents' request latencies by path once the
// fleet is up, and when jobs ran.
type requestTimes struct {
	mu                sync.Mutex
	on                bool
	checkins, results latencies
	jobs              int
	first, last       time.Time
}

func (r *requestTimes) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = true
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
	rep.Checkins, rep.JobResults = r.checkins.summary(), r.results.summary()
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

func (l *latencies) summary() Latency {
	s := Latency{N: len(l.d), Failures: l.failures}
	s.P50, s.P99, s.Max = percentiles(l.d)
	return s
}

func percentiles(ds []time.Duration) (p50, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1]
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
