package server

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
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
// op: POST the OSV record to /api/v1/feeds/import, follow its job (GET
// /api/v1/feeds/jobs/{id}?wait=true), then list the findings of all those
// hosts, scored, through GET /api/v1/vulns?advisory=. Sub-benchmarks: sqlite, and postgres when
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

// benchServer is a server for benchmarks over loopback TLS, its store
// and an admin token.
type benchServer struct {
	s      *Server
	db     *store.DB
	url    string
	client *http.Client
	secret string
}

func newBenchServer(b *testing.B, dbURL string, now time.Time) *benchServer {
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	ts := startTestServer(b, cfg, dbURL, func() time.Time { return now })
	secret, tok := newAPIToken("bench", "admin", "", nil, now)
	if err := ts.db.CreateAPIToken(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return &benchServer{s: ts.Server, db: ts.db, url: ts.url, client: ts.client, secret: secret}
}

// do calls the API and decodes a 200 answer into out.
func (bs *benchServer) do(b *testing.B, method, path string, body io.Reader, out any) {
	req, _ := http.NewRequest(method, bs.url+path, body)
	req.Header.Set("Authorization", "Bearer "+bs.secret)
	resp, err := bs.client.Do(req)
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

func benchNewAdvisory(b *testing.B, dbURL string, hosts int) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	bs := newBenchServer(b, dbURL, now)
	// Loaded after Start: the hosts are not queued for their own
	// reconcile, as a running server's would not be.
	start := time.Now()
	if _, err := storetest.Load(ctx, bs.db, storetest.Fleet{Hosts: hosts, PackagesPerHost: 100, FindingsPerHost: 1, Now: now, Seed: 1,
		Bases: almaBases()}); err != nil {
		b.Fatal(err)
	}
	if bs.db.Dialect() == store.Postgres {
		// Statistics for the planner, as autovacuum gathers them within a
		// minute of a bulk load; a fresh database has none.
		raw, err := sql.Open("pgx", dbURL)
		if err == nil {
			_, err = raw.ExecContext(ctx, "ANALYZE")
			raw.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	affected := (hosts + 4) / 5
	b.Logf("%s: loaded %d hosts × 100 packages in %s; %d carry the affected openssl-libs", bs.db.Dialect(), hosts,
		time.Since(start).Round(time.Millisecond), affected)
	do := func(method, path string, body io.Reader, out any) { bs.do(b, method, path, body, out) }
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
		// Follow the job (a long poll), then read the findings: all there,
		// scored.
		var job api.FeedJob
		do("GET", "/api/v1/feeds/jobs/"+res.Job.ID+"?wait=true", nil, &job)
		if job.State != "done" || job.Opened != affected {
			b.Fatalf("job %+v, want done with %d opened", job, affected)
		}
		seen, token := 0, ""
		for {
			var page api.Page[api.Finding]
			do("GET", "/api/v1/vulns?limit=1000&advisory="+advID+"&page_token="+token, nil, &page)
			for _, f := range page.Items {
				if f.Priority == 0 || f.DueAt == nil {
					b.Fatalf("%s: finding %s listed unscored", advID, f.ID)
				}
			}
			seen += len(page.Items)
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if seen != affected {
			b.Fatalf("%s: %d findings listed, want %d", advID, seen, affected)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(affected), "hosts-affected")
}

// BenchmarkImportAlmaLinux imports the full AlmaLinux OSV feed of
// shared/data (5,680 files: 5,637 records and 43 identical copies) through
// POST /api/v1/feeds/import over loopback TLS, as one zip the way
// 'patchbay feeds import DIR' sends it (packed once, outside the timer),
// into a server on SQLite with no hosts. "first": into an empty server
// (a new one per op, set up outside the timer); "unchanged": the same
// feed again. The answer comes after the import's transaction, before its
// matching job (which has no hosts to visit here).
func BenchmarkImportAlmaLinux(b *testing.B) {
	dir := "/work/shared/data/osv/almalinux"
	if _, err := os.Stat(dir); err != nil {
		dir = filepath.Join("..", "..", "..", "shared", "data", "osv", "almalinux")
		if _, err := os.Stat(dir); err != nil {
			b.Skip("shared/data/osv/almalinux not found")
		}
	}
	body := zipDir(b, dir)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	imp := func(b *testing.B, bs *benchServer) api.ImportResult {
		var res api.ImportResult
		bs.do(b, "POST", "/api/v1/feeds/import?name=almalinux", bytes.NewReader(body), &res)
		if res.Feed.Records != 5637 || res.Feed.Duplicates != 43 || res.Feed.Rejected != 0 {
			b.Fatalf("import: %d records, %d duplicates, %d rejected; want 5637, 43, 0", res.Feed.Records, res.Feed.Duplicates, res.Feed.Rejected)
		}
		return res
	}
	report := func(b *testing.B, elapsed, cpu time.Duration) {
		b.ReportMetric(5637*float64(b.N)/elapsed.Seconds(), "records/s")
		b.ReportMetric(5637*float64(b.N)/cpu.Seconds(), "records/cpu-s")
	}
	b.Run("first", func(b *testing.B) {
		var elapsed, cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			bs := newBenchServer(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), now)
			b.StartTimer()
			t0, c0 := time.Now(), processCPU()
			if res := imp(b, bs); res.Added != 5637 {
				b.Fatalf("first import added %d, want 5637", res.Added)
			}
			elapsed, cpu = elapsed+time.Since(t0), cpu+processCPU()-c0
		}
		report(b, elapsed, cpu)
	})
	b.Run("unchanged", func(b *testing.B) {
		bs := newBenchServer(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), now)
		imp(b, bs)
		t0, c0 := time.Now(), processCPU()
		for b.Loop() {
			if res := imp(b, bs); res.Added != 0 || res.Changed != 0 || res.Job != nil {
				b.Fatalf("re-import added %d, changed %d, job %v; want nothing", res.Added, res.Changed, res.Job)
			}
		}
		report(b, time.Since(t0), processCPU()-c0)
	})
}

// zipDir packs the *.json files below dir as 'patchbay feeds import' does.
func zipDir(b *testing.B, dir string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
