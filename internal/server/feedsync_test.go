package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The sync fetches over real TLS from a loopback server that behaves like
// the feed hosts: ETag and conditional requests, a transient 503.
func TestFeedSyncConditionalRetriesAndLimits(t *testing.T) {
	kev, err := os.ReadFile("../advisory/testdata/kev/known_exploited_vulnerabilities.json")
	if err != nil {
		t.Fatal(err)
	}
	usn, err := os.ReadFile("../../cmd/patchbay/testdata/feeds/USN-7768-1.json")
	if err != nil {
		t.Fatal(err)
	}
	var kevHits, conditional, usnHits atomic.Int32
	feed := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/kev.json":
			kevHits.Add(1)
			if r.Header.Get("If-None-Match") == `"v1"` {
				conditional.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			w.Write(kev)
		case "/usn.json":
			// The first attempt fails the way an overloaded CDN does.
			if usnHits.Add(1) == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write(usn)
		case "/huge":
			w.Header().Set("Content-Length", "2147483648")
			w.WriteHeader(200)
		default:
			http.NotFound(w, r)
		}
	}))
	defer feed.Close()

	ts := newTestServer(t)
	ts.Server.feedClient = feed.Client()
	ts.Server.feedRetryDelay = time.Millisecond
	ts.Server.cfg.FeedSources = []FeedSource{{"kev", feed.URL + "/kev.json"}, {"usn", feed.URL + "/usn.json"},
		{"gone", feed.URL + "/missing"}, {"huge", feed.URL + "/huge"}}
	ctx := context.Background()

	res := ts.Server.syncFeeds(ctx)
	if len(res) != 4 {
		t.Fatalf("results: %+v", res)
	}
	if res[0].Feed.Name != "cisa-kev" || res[0].Feed.Records != 1404 || res[0].Feed.Error != "" {
		t.Errorf("kev: %+v", res[0])
	}
	if res[1].Feed.Records != 1 || res[1].ChangedRecords != 1 || usnHits.Load() != 2 {
		t.Errorf("usn after a 503: %+v (%d requests)", res[1], usnHits.Load())
	}
	if !strings.Contains(res[2].Feed.Error, "404") || !strings.Contains(res[3].Feed.Error, "limit") {
		t.Errorf("failures: %q, %q", res[2].Feed.Error, res[3].Feed.Error)
	}
	// Second sync: KEV answers 304 and nothing is re-imported.
	res = ts.Server.syncFeeds(ctx)
	if conditional.Load() != 1 || res[0].Feed.Records != 1404 || res[0].ChangedRecords != 0 {
		t.Errorf("conditional sync: %d conditional requests, %+v", conditional.Load(), res[0])
	}
	fs, err := ts.Server.store.ListFeeds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := 0
	for _, f := range fs {
		if f.Error != "" {
			errs++
		}
	}
	if errs != 2 {
		t.Errorf("feed statuses: %+v", fs)
	}
}
