package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store/storetest"
	"github.com/patchbay/patchbay/internal/testenv"
)

// BenchmarkReportQuery measures GET /api/v1/report for a year (JSON) end to
// end in the process: routing, token check, reading the fleet's hosts and
// findings from the store, computing every KPI with its 366-day series,
// encoding. The fleet (package storetest): PATCHBAY_BENCH_HOSTS hosts
// (default 10,000) × PATCHBAY_BENCH_PACKAGES packages (default 100) × 20
// findings first seen over the past year, half of them resolved.
// Sub-benchmarks: sqlite, and postgres when PATCHBAY_TEST_POSTGRES is set.
func BenchmarkReportQuery(b *testing.B) {
	hosts, pkgs := envInt("PATCHBAY_BENCH_HOSTS", 10000), envInt("PATCHBAY_BENCH_PACKAGES", 100)
	b.Run("sqlite", func(b *testing.B) {
		benchReport(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), hosts, pkgs)
	})
	b.Run("postgres", func(b *testing.B) {
		benchReport(b, benchPostgres(b, testenv.Postgres(b)), hosts, pkgs)
	})
}

func benchReport(b *testing.B, dbURL string, hosts, pkgs int) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	ts := startTestServer(b, cfg, dbURL, func() time.Time { return now })
	s, db := ts.Server, ts.db
	start := time.Now()
	loaded, err := storetest.Load(ctx, db, storetest.Fleet{Hosts: hosts, PackagesPerHost: pkgs, FindingsPerHost: 20, Now: now, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: loaded %d hosts × %d packages, %d findings (%d open) in %s", db.Dialect(), hosts, pkgs, loaded.Findings, loaded.Open,
		time.Since(start).Round(time.Millisecond))
	secret, tok := newAPIToken("bench", "admin", "", nil, now)
	if err := db.CreateAPIToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	in, err := s.reportInput(ctx)
	if err != nil || len(in.Findings) != loaded.Findings || len(in.Hosts) != hosts {
		b.Fatalf("report input: %d findings, %d hosts, %v", len(in.Findings), len(in.Hosts), err)
	}
	q := url.Values{"from": {now.AddDate(-1, 0, 0).Format(time.DateOnly)}, "to": {now.Format(time.DateOnly)}}
	h := s.Handler()
	var size int
	cpu0 := processCPU()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/report?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		size = w.Body.Len()
	}
	// The machine is shared: CPU time says what a report costs when
	// other work inflates the wall time.
	b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(size), "body-bytes")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPostgres creates an empty database for one benchmark and drops it
// after (testenv.FreshPostgres; the benchmarks of this package call it so).
func benchPostgres(b *testing.B, base string) string {
	b.Helper()
	return testenv.FreshPostgres(b, base)
}
