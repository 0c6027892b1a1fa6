package server

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store/storetest"
)

// BenchmarkConsoleDashboard measures Backend.Dashboard on a fleet of
// PATCHBAY_BENCH_HOSTS hosts (default 10,000) with 20 findings each over a
// year: "cold" recomputes the KPIs and the open-finding counts (what
// one load pays every dashboardMaxAge), "warm" is every other load (the
// groups' next windows and the open changes).
func BenchmarkConsoleDashboard(b *testing.B) {
	n := envInt("PATCHBAY_BENCH_HOSTS", 10000)
	ctx := context.Background()
	ts := newTestServerAt(b, time.Now)
	start := time.Now()
	loaded, err := storetest.Load(ctx, ts.db, storetest.Fleet{Hosts: n, PackagesPerHost: 20, Now: time.Now(), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d hosts, %d findings (%d open) in %v", n, loaded.Findings, loaded.Open, time.Since(start).Round(time.Second))
	cb := consoleBackend{ts.Server}
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			if _, err := cb.Dashboard(ctx); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if mode == "cold" {
					ts.kpis.mu.Lock()
					ts.kpis.at = time.Time{}
					ts.kpis.mu.Unlock()
				}
				d, err := cb.Dashboard(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if d.Hosts != n {
					b.Fatalf("dashboard counts %d hosts, want %d", d.Hosts, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/load")
		})
	}
}
