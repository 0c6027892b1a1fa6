package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/prometheus/client_golang/prometheus"
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
	m.reg.MustRegister(m.requests, m.checkins, fleet, stale,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
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
