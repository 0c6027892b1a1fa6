package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serverMetrics is this server's own Prometheus registry: no global state,
// so several servers in one test process do not collide.
type serverMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	checkins *prometheus.CounterVec
	handler  http.Handler
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "patchbay_http_request_duration_seconds", Help: "HTTP request latency by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "status"})
	m.checkins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "patchbay_agent_checkins_total", Help: "Agent check-ins by kind (full, delta, need_full).",
	}, []string{"kind"})
	fleet := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "patchbay_hosts", Help: "Enrolled, unrevoked hosts."},
		func() float64 { return float64(s.countHosts(store.HostFilter{})) })
	stale := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "patchbay_hosts_stale", Help: "Hosts silent for three check-in intervals."},
		func() float64 {
			cut := s.now().Add(-s.staleAfter())
			return float64(s.countHosts(store.HostFilter{SeenBefore: &cut}))
		})
	m.reg.MustRegister(m.requests, m.checkins, fleet, stale, &fleetCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (s *Server) countHosts(f store.HostFilter) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := s.store.CountHosts(ctx, f)
	if err != nil {
		s.log.Error("metrics: count hosts", "err", err)
		return -1
	}
	return n
}

func (m *serverMetrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

// fleetCollector reads the fleet's findings and feeds from the store at
// scrape time.
type fleetCollector struct{ s *Server }

var (
	descFindings = prometheus.NewDesc("patchbay_findings_open", "Open findings by severity.", []string{"severity"}, nil)
	descOverdue  = prometheus.NewDesc("patchbay_findings_overdue", "Open findings past their SLA due date.", nil, nil)
	descExcepted = prometheus.NewDesc("patchbay_findings_excepted", "Open findings an active exception accepts.", nil, nil)
	descKEV      = prometheus.NewDesc("patchbay_findings_kev", "Open findings in CISA KEV.", nil, nil)
	descFeedAge  = prometheus.NewDesc("patchbay_feed_age_seconds", "Seconds since each feed's last successful import.", []string{"feed"}, nil)
	descFeedErr  = prometheus.NewDesc("patchbay_feed_failing", "1 when the feed's last sync failed.", []string{"feed"}, nil)
	descQueue    = prometheus.NewDesc("patchbay_reconcile_queue", "Hosts waiting for their findings to be reconciled.", nil, nil)
	descJobs     = prometheus.NewDesc("patchbay_jobs_open", "Jobs dispatched and not yet finished, by status (pending: not yet fetched by the agent).", []string{"status"}, nil)
	descEStop    = prometheus.NewDesc("patchbay_emergency_stop", "1 while the emergency stop is in force.", nil, nil)
)

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFindings, descOverdue, descExcepted, descKEV, descFeedAge, descFeedErr, descQueue, descJobs, descEStop} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.s.now()
	if fc, err := c.s.store.CountOpenFindings(ctx, now); err == nil {
		for _, sev := range []string{"critical", "high", "medium", "low", "none", "unknown"} {
			ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(fc.BySeverity[sev]), sev)
		}
		ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, float64(fc.Overdue))
		ch <- prometheus.MustNewConstMetric(descExcepted, prometheus.GaugeValue, float64(fc.Excepted))
		ch <- prometheus.MustNewConstMetric(descKEV, prometheus.GaugeValue, float64(fc.KEV))
	} else {
		c.s.log.Error("metrics: count findings", "err", err)
	}
	if fs, err := c.s.store.ListFeeds(ctx); err == nil {
		for _, f := range fs {
			if f.LastSync.Unix() > 0 {
				ch <- prometheus.MustNewConstMetric(descFeedAge, prometheus.GaugeValue, now.Sub(f.LastSync).Seconds(), f.Name)
			}
			failing := 0.0
			if f.Error != "" {
				failing = 1
			}
			ch <- prometheus.MustNewConstMetric(descFeedErr, prometheus.GaugeValue, failing, f.Name)
		}
	}
	if n, err := c.s.store.CountHostsToReconcile(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n))
	}
	if counts, err := c.s.store.CountOpenJobs(ctx); err == nil {
		for _, st := range []string{"pending", "delivered"} {
			ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(counts[st]), st)
		}
	}
	stop := 0.0
	if c.s.emergencyStopped(ctx) {
		stop = 1
	}
	ch <- prometheus.MustNewConstMetric(descEStop, prometheus.GaugeValue, stop)
}
