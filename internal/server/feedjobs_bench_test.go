package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/store/storetest"
)

// BenchmarkNewAdvisory times one new advisory through the server's real
// path: a server over loopback TLS holding PATCHBAY_BENCH_HOSTS AlmaLinux 9
// hosts (default 5,000, loaded into the store directly) with 100 packages
// each; every fifth host carries an openssl-libs the advisory affects. One
// op: POST the OSV record to /api/v1/feeds/import, then poll GET
// /api/v1/vulns?advisory= until the findings of all those hosts are
// listed. Sub-benchmarks: sqlite, and postgres when
// PATCHBAY_TEST_POSTGRES is set.
func BenchmarkNewAdvisory(b *testing.B) {
	hosts := envInt("PATCHBAY_BENCH_HOSTS", 5000)
	b.Run("sqlite", func(b *testing.B) {
		benchNewAdvisory(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), hosts)
	})
	b.Run("postgres", func(b *testing.B) {
		base := os.Getenv("PATCHBAY_TEST_POSTGRES")
		if base == "" {
			b.Skip("PATCHBAY_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); skipping PostgreSQL")
		}
		benchNewAdvisory(b, benchPostgres(b, base), hosts)
	})
}

// almaBases are five AlmaLinux 9.4 package lists of 100 packages with
// different versions; the first holds the affected openssl-libs.
func almaBases() []storetest.Base {
	var out []storetest.Base
	for k := range 5 {
		base := storetest.Base{OS: inventory.OS{ID: "almalinux", VersionID: "9.4", Name: "AlmaLinux"}, Format: inventory.FormatRPM}
		ssl := "3.0.7-27.el9"
		if k == 0 {
			ssl = "3.0.7-24.el9"
		}
		base.Packages = append(base.Packages, inventory.Package{Name: "openssl-libs", Version: ssl, Arch: "x86_64", Source: "openssl"})
		for i := range 99 {
			name := fmt.Sprintf("pkg%d", i)
			base.Packages = append(base.Packages, inventory.Package{Name: name, Version: fmt.Sprintf("%d.%d-%d.el9", 1+i%4, (i+k)%7, 1+k),
				Arch: "x86_64", Source: name})
		}
		out = append(out, base)
	}
	return out
}

func benchNewAdvisory(b *testing.B, dbURL string, hosts int) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.FeedSources = nil
	id, err := Bootstrap(cfg, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s := New(cfg, db, id, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	sctx, cancel := context.WithCancel(ctx)
	b.Cleanup(s.Wait)
	b.Cleanup(cancel)
	if err := s.Start(sctx); err != nil {
		b.Fatal(err)
	}
	// Loaded after Start: the hosts are not queued for their own
	// reconcile, as a running server's would not be.
	start := time.Now()
	if _, err := storetest.Load(ctx, db, storetest.Fleet{Hosts: hosts, PackagesPerHost: 100, FindingsPerHost: 1, Now: now, Seed: 1,
		Bases: almaBases()}); err != nil {
		b.Fatal(err)
	}
	affected := (hosts + 4) / 5
	b.Logf("%s: loaded %d hosts × 100 packages in %s; %d carry the affected openssl-libs", db.Dialect(), hosts,
		time.Since(start).Round(time.Millisecond), affected)
	secret, tok := newAPIToken("bench", "admin", "", nil, now)
	if err := db.CreateAPIToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.TLS = s.TLSConfig()
	hs.StartTLS()
	b.Cleanup(hs.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: id.CA.Pool(), ServerName: "localhost"}}}
	do := func(method, path string, body io.Reader, out any) {
		req, _ := http.NewRequest(method, hs.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		if err := json.Unmarshal(data, out); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	cpu0 := processCPU()
	for b.Loop() {
		n++
		advID := fmt.Sprintf("ALSA-2099:%04d", n)
		rec := `{"schema_version": "1.6.0", "id": "` + advID + `", "modified": "2026-11-25T00:00:00Z", "published": "2026-11-25T00:00:00Z",
			"summary": "Important: openssl security update", "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "openssl-libs"},
			"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.7-25.el9"}]}]}]}`
		var res api.ImportResult
		do("POST", "/api/v1/feeds/import?name=bench-"+fmt.Sprint(n), strings.NewReader(rec), &res)
		if res.Job == nil {
			b.Fatalf("import of %s started no job: %+v", advID, res)
		}
		for seen := 0; seen < affected; {
			seen = 0
			token := ""
			for {
				var page api.Page[api.Finding]
				do("GET", "/api/v1/vulns?limit=1000&advisory="+advID+"&page_token="+token, nil, &page)
				seen += len(page.Items)
				if token = page.NextPageToken; token == "" {
					break
				}
			}
			if seen > affected {
				b.Fatalf("%s: %d findings, want %d", advID, seen, affected)
			}
			if seen < affected {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(affected), "hosts-affected")
}
