package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/store"
)

const opensslRecord = `{"schema_version": "1.6.0", "id": "ALSA-2099:0001", "modified": "2026-11-25T00:00:00Z",
	"published": "2026-11-25T00:00:00Z", "summary": "Important: openssl security update",
	"affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "openssl-libs"},
	"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.7-25.el9"}]}]}]}`

// An import commits its matching job with its advisories: when the server
// stops before the job runs, the next start runs it, and the hosts'
// findings appear with their history.
func TestFeedJobLeftByAStoppedServerRunsAtStart(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	dbURL := "sqlite:" + filepath.Join(cfg.DataDir, "test.db")

	// What a server wrote before it stopped: a host, and an import whose
	// job never ran.
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk", Hash: "h-tk", Prefix: "PBE1.tk", ExpiresAt: now.Add(time.Hour),
		CreatedBy: "u1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alma-1", "alma-2"} {
		if _, err := db.EnrollHost(ctx, "h-tk", store.Host{ID: id, Hostname: id, CertSerial: "s-" + id, CertNotAfter: now.Add(24 * time.Hour),
			EnrolledAt: now, LastSeenAt: now}, now); err != nil {
			t.Fatal(err)
		}
	}
	checkin := func(id, version string) {
		t.Helper()
		c := store.Checkin{Facts: inventory.Facts{Hostname: id, OS: inventory.OS{ID: "almalinux", VersionID: "9.4"}, PackageFormat: inventory.FormatRPM},
			Full: true, Packages: []inventory.Package{{Name: "openssl-libs", Version: version, Arch: "x86_64", Source: "openssl"}}}
		if _, err := db.ApplyCheckin(ctx, id, c, now); err != nil {
			t.Fatal(err)
		}
	}
	checkin("alma-1", "3.0.7-24.el9") // affected
	checkin("alma-2", "3.0.7-27.el9") // fixed already
	// Both were matched before the import (nothing affected them), so the
	// hosts' own reconcile at start finds nothing to do: what opens the
	// finding is the job.
	for _, id := range []string{"alma-1", "alma-2"} {
		tuples, err := db.UnmatchedTuples(ctx, id, "almalinux", "9")
		if err != nil || len(tuples) != 1 {
			t.Fatalf("%s: unmatched %v %v", id, tuples, err)
		}
		if err := db.SaveMatches(ctx, "almalinux", "9", map[int64][]match.Match{tuples[0].PVID: nil}); err != nil {
			t.Fatal(err)
		}
	}
	adv, err := advisory.ParseOSV(strings.NewReader(opensslRecord), "ALSA-2099_0001.json")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(adv)
	in := store.FeedImport{Status: store.FeedStatus{Name: "osv-alma", Kind: "osv", Origin: "upload alma"},
		Advisories: []store.Advisory{{ID: adv.ID, Source: adv.Source, Published: adv.Published, Modified: adv.Modified, Severity: "high",
			Summary: adv.Summary, Data: data}}}
	in.Job = func(changed, _ []string) (store.FeedJob, bool) {
		return store.FeedJob{ID: "job-1", Feed: "osv-alma", Advisories: changed,
			Keys: []match.Key{{Distro: "almalinux", Release: "9", Package: "openssl-libs"}}}, true
	}
	if _, err := db.ImportFeed(ctx, in, now); err != nil {
		t.Fatal(err)
	}
	db.Close()

	ts := startTestServer(t, cfg, dbURL, func() time.Time { return now })
	secret, tok := newAPIToken("test", "admin", "", nil, now)
	if err := ts.db.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var job struct {
		State  string `json:"state"`
		Hosts  int    `json:"hosts"`
		Opened int    `json:"opened"`
	}
	if code := ts.call(t, "GET", "/api/v1/feeds/jobs/job-1?wait=true", secret, nil, &job); code != 200 || job.State != "done" ||
		job.Hosts != 1 || job.Opened != 1 {
		t.Fatalf("job after restart: %d %+v, want done with 1 host, 1 opened", code, job)
	}
	var page struct {
		Items []struct {
			AdvisoryID string `json:"advisory_id"`
			Fixed      string `json:"fixed_version"`
			History    []struct {
				Kind   string `json:"kind"`
				Detail string `json:"detail"`
			} `json:"history"`
		} `json:"items"`
	}
	if code := ts.call(t, "GET", "/api/v1/hosts/alma-1/findings?history=true", secret, nil, &page); code != 200 || len(page.Items) != 1 ||
		page.Items[0].AdvisoryID != "ALSA-2099:0001" || len(page.Items[0].History) != 1 ||
		page.Items[0].History[0].Detail != "openssl-libs 3.0.7-24.el9 affected by ALSA-2099:0001, fixed in 3.0.7-25.el9" {
		t.Fatalf("alma-1 findings: %d %+v", code, page.Items)
	}
	if code := ts.call(t, "GET", "/api/v1/hosts/alma-2/findings", secret, nil, &page); code != 200 || len(page.Items) != 0 {
		t.Fatalf("alma-2 (fixed) findings: %d %+v", code, page.Items)
	}
}
