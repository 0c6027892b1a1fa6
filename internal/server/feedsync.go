package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/api"
)

// FeedSource is a feed the server fetches on its schedule.
type FeedSource struct {
	Name string // names the feed in its status: "osv-almalinux"
	URL  string
}

// DefaultFeedSources are the official public URLs.
func DefaultFeedSources() []FeedSource {
	osv := "https://osv-vulnerabilities.storage.googleapis.com/"
	return []FeedSource{
		{"osv-almalinux", osv + "AlmaLinux/all.zip"},
		{"osv-rocky", osv + "Rocky%20Linux/all.zip"},
		{"osv-alpine", osv + "Alpine/all.zip"},
		{"osv-debian", osv + "Debian/all.zip"},
		{"osv-ubuntu", osv + "Ubuntu/all.zip"},
		{"cisa-kev", "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"},
		{"first-epss", "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"},
	}
}

// syncLoop syncs every FeedSyncInterval, once across all replicas: on
// the replica holding the feed-sync lease, when the last sync any replica
// claimed is an interval old (leader.go). A server tries first a minute
// after start (or one interval, when shorter), so a restart loop does not
// hammer the sources; the schedule lives in the database, so a restart
// does not sync again early either.
func (s *Server) syncLoop(ctx context.Context) {
	if s.cfg.FeedSyncInterval <= 0 || len(s.cfg.FeedSources) == 0 {
		return
	}
	s.every(ctx, leaseFeedSync, s.cfg.FeedSyncInterval, min(time.Minute, s.cfg.FeedSyncInterval),
		func(ctx context.Context) { s.syncFeeds(ctx) })
}

// syncFeeds fetches every configured source and imports what changed.
// A source that fails keeps its previous content; the failure is recorded
// in its status.
func (s *Server) syncFeeds(ctx context.Context) []api.ImportResult {
	var out []api.ImportResult
	for _, src := range s.cfg.FeedSources {
		res, err := s.syncOne(ctx, src)
		if err != nil {
			s.log.Warn("feed sync failed", "feed", src.Name, "url", src.URL, "err", err)
			_ = s.store.RecordFeedError(ctx, src.Name, "", src.URL, err.Error())
			if err := s.store.EnqueueOutbox(ctx, s.outboxMessages(feedFailedEvent(src.Name, src.URL, err.Error(), s.now()))...); err != nil {
				s.log.Warn("notify feed failure", "feed", src.Name, "err", err)
			}
			out = append(out, api.ImportResult{Feed: api.FeedStatus{Name: src.Name, Origin: src.URL, Error: err.Error()}})
			continue
		}
		out = append(out, res)
	}
	return out
}

func (s *Server) syncOne(ctx context.Context, src FeedSource) (api.ImportResult, error) {
	if err := s.vulns.waitLoaded(ctx); err != nil {
		return api.ImportResult{}, err
	}
	var etag, lastMod, prevName string
	if fs, err := s.store.ListFeeds(ctx); err == nil {
		for _, f := range fs {
			if f.Origin == src.URL && f.Error == "" {
				etag, lastMod, prevName = f.ETag, f.LastModified, f.Name
			}
		}
	}
	dir, err := os.MkdirTemp("", "patchbay-sync-")
	if err != nil {
		return api.ImportResult{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "feed")
	resp, err := s.fetch(ctx, src.URL, etag, lastMod, path)
	if err != nil {
		return api.ImportResult{}, err
	}
	if resp.StatusCode == http.StatusNotModified {
		st, err := s.store.GetFeed(ctx, prevName)
		if err != nil {
			return api.ImportResult{}, err
		}
		return api.ImportResult{Feed: feedView(st)}, nil
	}
	if isZip(path) {
		if err := os.Rename(path, path+".zip"); err != nil {
			return api.ImportResult{}, err
		}
		path += ".zip"
	}
	var opts advisory.ReadOptions
	if prevName != "" {
		if opts.Stored, err = s.store.FeedRawHashes(ctx, prevName); err != nil {
			return api.ImportResult{}, err
		}
	}
	feed, kind, err := advisory.ReadAnyWith(ctx, path, opts)
	if err != nil {
		return api.ImportResult{}, errors.New(strings.ReplaceAll(err.Error(), path, src.URL))
	}
	feed.Name = src.Name
	res, err := s.vulns.importFeed(ctx, feed, kind, src.URL, false)
	if err != nil {
		return api.ImportResult{}, err
	}
	if err := s.store.SetFeedValidators(ctx, res.Feed.Name, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")); err != nil {
		return api.ImportResult{}, err
	}
	return importResultView(res), nil
}

// fetch downloads url to path with a conditional request, retrying
// transient failures (network errors, 5xx, 429) three times with backoff,
// and refusing bodies over MaxFeedUpload.
func (s *Server) fetch(ctx context.Context, url, etag, lastMod, path string) (*http.Response, error) {
	client := s.feedClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Minute}
	}
	var lastErr error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * s.feedRetryDelay):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", "patchbay-feed-sync")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lastMod != "" {
			req.Header.Set("If-Modified-Since", lastMod)
		}
		resp, err := client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		switch {
		case resp.StatusCode == http.StatusNotModified:
			resp.Body.Close()
			return resp, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			resp.Body.Close()
			lastErr = fmt.Errorf("GET %s: %s", url, resp.Status)
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if resp.ContentLength > MaxFeedUpload {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %d bytes is over the %d-byte limit", url, resp.ContentLength, int64(MaxFeedUpload))
		}
		err = writeLimited(path, resp.Body, MaxFeedUpload)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("after 3 attempts: %w", lastErr)
}

func writeLimited(path string, r io.Reader, limit int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("feed larger than %d bytes", limit)
	}
	return err
}
