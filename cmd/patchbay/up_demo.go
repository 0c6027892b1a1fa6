package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/server"
	"github.com/patchbay/patchbay/internal/sim"
)

// demoFeed is a feed of the shared data folder the demo imports: a file,
// or a folder of OSV records sent as one zip.
type demoFeed struct {
	name, path string
}

// demoFeeds lists, under data (shared/data), the real feeds the demo
// imports from local files: AlmaLinux and Ubuntu OSV, Alpine secdb, CISA
// KEV and EPSS.
func demoFeeds(data string) []demoFeed {
	feeds := []demoFeed{
		{"osv-almalinux8", filepath.Join(data, "osv", "almalinux", "almalinux8")},
		{"osv-almalinux9", filepath.Join(data, "osv", "almalinux", "almalinux9")},
		{"osv-ubuntu", filepath.Join(data, "osv", "ubuntu")},
	}
	secdb, _ := filepath.Glob(filepath.Join(data, "secdb", "alpine", "v*", "*.json"))
	sort.Strings(secdb)
	for _, f := range secdb {
		rel, _ := filepath.Rel(filepath.Join(data, "secdb", "alpine"), f)
		feeds = append(feeds, demoFeed{"alpine-" + strings.NewReplacer("/", "-", ".json", "").Replace(rel), f})
	}
	feeds = append(feeds, demoFeed{"cisa-kev", filepath.Join(data, "kev", "known_exploited_vulnerabilities.json")})
	epss, _ := filepath.Glob(filepath.Join(data, "epss", "epss_scores-*.csv"))
	if len(epss) > 0 {
		feeds = append(feeds, demoFeed{"first-epss", epss[len(epss)-1]})
	}
	return feeds
}

// importDemoFeeds uploads the demo's feeds to the server, one request each.
func importDemoFeeds(ctx context.Context, c *client.Client, data string, log *slog.Logger) error {
	for _, f := range demoFeeds(data) {
		body, err := feedBody(f.path)
		if err != nil {
			return fmt.Errorf("demo feed %s: %w", f.name, err)
		}
		var res api.ImportResult
		err = c.Do(ctx, "POST", "/api/v1/feeds/import", url.Values{"name": {f.name}}, bytes.NewReader(body), &res)
		var refused *client.Error
		if errors.As(err, &refused) && refused.Status == http.StatusBadRequest {
			// Old secdb branches list no package: the server says so.
			log.Warn("demo feed skipped", "feed", f.name, "reason", refused.Message)
			continue
		}
		if err != nil {
			return fmt.Errorf("import demo feed %s from %s: %w", f.name, f.path, err)
		}
		log.Info("demo feed imported", "feed", f.name, "records", res.Feed.Records, "rejected", res.Feed.Rejected)
	}
	return nil
}

// feedBody is a file's content, or a folder's *.json files zipped.
func feedBody(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return os.ReadFile(path)
	}
	files, err := filepath.Glob(filepath.Join(path, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no *.json records in %s", path)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(filepath.Base(f))
		if err != nil {
			return nil, err
		}
		r, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, r)
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// runDemo imports the local feeds and runs a simulated fleet of hosts
// with real package lists of several distributions against the server,
// until ctx ends. No byte leaves the machine.
func runDemo(ctx context.Context, rs *runningServer, data string, hosts int, log *slog.Logger) error {
	caFile := filepath.Join(rs.cfg.DataDir, "ca.crt")
	tok, err := os.ReadFile(rs.first.TokenPath)
	if err != nil {
		return fmt.Errorf("read the admin token: %w", err)
	}
	c, err := client.New(rs.url, strings.TrimSpace(string(tok)), caFile)
	if err != nil {
		return err
	}
	bases, err := sim.LoadBases(filepath.Join(data, "inventories", "package-lists"))
	if err != nil {
		return fmt.Errorf("demo: %w (point --demo-data at the shared data folder)", err)
	}
	if err := importDemoFeeds(ctx, c, data, log); err != nil {
		return err
	}
	var et api.EnrollToken
	if err := c.Do(ctx, "POST", "/api/v1/enroll-tokens", nil, api.CreateEnrollTokenRequest{MaxHosts: hosts, Expires: "1h",
		Labels: map[string]string{"demo": "true"}}, &et); err != nil {
		return fmt.Errorf("demo enrollment token: %w", err)
	}
	_, err = sim.Run(ctx, sim.Config{Server: rs.url, EnrollToken: et.Token, CAFile: caFile, Hosts: hosts, Packages: 300,
		Interval: rs.cfg.CheckinInterval, Changes: 1, Duration: 365 * 24 * time.Hour, Concurrency: 8, Bases: bases, Seed: 1,
		Jobs: true, Logger: log.With("component", "demo-fleet")})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// findSharedData looks for shared/data beside the checkout.
func findSharedData() string {
	return filepath.Dir(filepath.Dir(findSharedInventories()))
}

// feedSyncNotice says what `up` will fetch from the internet and when,
// and how to turn it off.
func feedSyncNotice(w io.Writer, cfg server.Config) {
	if len(cfg.FeedSources) == 0 || cfg.FeedSyncInterval == 0 {
		fmt.Fprintln(w, "Feeds: no automatic sync (import with `patchbay feeds import FILE`).")
		return
	}
	var names []string
	for _, s := range cfg.FeedSources {
		names = append(names, s.Name)
	}
	fmt.Fprintf(w, "Feeds: in 1 minute, then every %s, this server downloads %s from the internet.\n", cfg.FeedSyncInterval, strings.Join(names, ", "))
	fmt.Fprintln(w, "  Turn it off with --feed-source none (then import files with `patchbay feeds import`), or try `patchbay up --demo`: no network at all.")
}
