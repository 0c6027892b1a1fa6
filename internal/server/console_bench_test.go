package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/store/storetest"
)

// consolePages are the console's main pages, as the benchmark asks for them.
// {host} and {change} are filled in from the loaded fleet.
var consolePages = []struct{ name, path string }{
	{"dashboard", "/"},
	{"hosts", "/hosts"},
	{"hosts-search", "/hosts?q=host-0424"},
	{"host", "/hosts/{host}"},
	{"vulns", "/vulns"},
	{"vulns-critical-kev", "/vulns?severity=critical&kev=yes"},
	{"vulns-by-advisory", "/vulns?by=advisory"},
	{"vulns-by-advisory-hosts", "/vulns?by=advisory&sort=hosts"},
	{"vulns-by-host", "/vulns?by=host"},
	{"vulns-by-package", "/vulns?by=package"},
	{"changes", "/changes"},
	{"change", "/changes/{change}"},
	{"groups", "/groups"},
	{"group", "/groups/tier-5"},
	{"calendar", "/calendar"},
	{"exceptions", "/exceptions"},
	{"kb", "/kb"},
	{"audit", "/audit"},
	{"reports", "/reports"},
	{"settings", "/settings"},
}

// BenchmarkConsolePages measures each main console page of the real server
// (store, console backend, templates) over loopback TLS, signed in as an
// admin, on a fleet of PATCHBAY_BENCH_HOSTS hosts (default 10,000) with
// PATCHBAY_BENCH_PACKAGES packages each (default 100: 1,000,000 package
// rows) and 20 findings each over a year, five groups and a change over
// 2,000 hosts. The goal is < 150 ms per page.
func BenchmarkConsolePages(b *testing.B) {
	n, pk := envInt("PATCHBAY_BENCH_HOSTS", 10000), envInt("PATCHBAY_BENCH_PACKAGES", 100)
	ctx := context.Background()
	ts := newTestServerAt(b, time.Now)
	start := time.Now()
	loaded, err := storetest.Load(ctx, ts.db, storetest.Fleet{Hosts: n, PackagesPerHost: pk, Now: time.Now(), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d hosts × %d packages, %d findings (%d open) in %v", n, pk, loaded.Findings, loaded.Open, time.Since(start).Round(time.Second))

	admin := ts.userToken(b, "bench-admin", "admin")
	org := []byte("teams: [{name: ops, members: [{user: bench-admin, role: admin}]}]\ngroups:\n")
	for c := 1; c <= 5; c++ {
		org = fmt.Appendf(org, "  - {name: tier-%d, team: ops, selector: {labels: {criticality: \"%d\"}}, stakeholder: bench-admin, sysadmin: bench-admin, criticality: %d, exposure: internal, ring: production,\n     windows: [{name: tuesday, rrule: \"FREQ=WEEKLY;BYDAY=TU\", start: \"22:00\", duration: 4h, tz: UTC}]}\n", c, c, c)
	}
	org = append(org, "rings: [production]\n"...)
	if code := ts.call(b, "POST", "/api/v1/org/apply", admin, org, nil); code != 200 {
		b.Fatalf("org apply: %d", code)
	}
	var ch struct{ ID string }
	spec, _ := json.Marshal(ChangeSpec{Title: "bench change", Groups: []string{"tier-5"}, IgnoreWindows: true,
		Packages: []PackageTarget{{Name: "libpkg0", Version: "9.9-9"}}, BatchPercent: 10, ForceNotOffered: true})
	if code := ts.call(b, "POST", "/api/v1/changes", admin, spec, &ch); code != 201 {
		b.Fatalf("create change: %d", code)
	}

	// Sign in to the console as a user with a known password.
	hash, err := HashPassword("bench-password-123")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ts.db.CreateUser(ctx, store.User{ID: "u-console", Username: "console-admin", PasswordHash: hash, Role: RoleAdmin, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: ts.client.Transport, Jar: jar}
	form := url.Values{"username": {"console-admin"}, "password": {"bench-password-123"}}
	if body := get(b, client, ts.url+"/login"); csrfInput.MatchString(body) {
		form.Set("csrf", csrfInput.FindStringSubmatch(body)[1])
	}
	resp, err := client.PostForm(ts.url+"/login", form)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()

	for _, p := range consolePages {
		path := strings.NewReplacer("{host}", loaded.HostIDs[len(loaded.HostIDs)/2], "{change}", ch.ID).Replace(p.path)
		b.Run(p.name, func(b *testing.B) {
			get(b, client, ts.url+path) // warm: templates, caches
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				get(b, client, ts.url+path)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			// CPU time of the whole process (server and the benchmark's
			// client) per page: what the page costs, however loaded the
			// machine is.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
		})
	}
	// A report nobody asked for yet: a new period on every load, so each is
	// computed (from the shared input) rather than served from the cache.
	b.Run("reports-new-period", func(b *testing.B) {
		get(b, client, ts.url+"/reports")
		cpu0 := processCPU()
		today := time.Now().UTC()
		i := 0
		b.ResetTimer()
		for b.Loop() {
			i++
			from := today.AddDate(0, 0, -30-i).Format(time.DateOnly)
			get(b, client, ts.url+"/reports?from="+from+"&to="+today.Format(time.DateOnly))
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
	})
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a console page and fails on anything but 200.
func get(b *testing.B, c *http.Client, u string) string {
	b.Helper()
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Request.URL.Path == "/login" && u[len(u)-6:] != "/login" {
		b.Fatalf("GET %s: %s (ended at %s)\n%.300s", u, resp.Status, resp.Request.URL, body)
	}
	return string(body)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
