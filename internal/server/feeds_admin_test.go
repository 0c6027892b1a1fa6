package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
)

// kevFile rewrites the real KEV catalog (1,404 entries, released
// 2025-08-25T17:04:19.9796Z) with another release time and only its first
// n entries (all when n < 0).
func kevFile(t *testing.T, released string, n int) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readFile(t, "../advisory/testdata/kev/known_exploited_vulnerabilities.json"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["dateReleased"] = released
	if vs := doc["vulnerabilities"].([]any); n >= 0 {
		doc["vulnerabilities"] = vs[:n]
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// epssFile is the 49 rows of a real EPSS file (or the first n) under
// a model line dated scoreDate.
func epssFile(t *testing.T, scoreDate string, n int) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(readFile(t, "../advisory/testdata/epss/epss_scores-2026-08-16-head50.csv"))), "\n")
	rows := lines[1:]
	if n >= 0 {
		rows = rows[:n]
	}
	return []byte("#model_version:v2025.03.14,score_date:" + scoreDate + "\n" + lines[0] + "\n" + strings.Join(rows, "\n") + "\n")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// callRefused is call for a request expected to fail: it decodes the
// error body.
func (ts *testServer) callRefused(t *testing.T, method, path, token string, body []byte, out *errorBody) int {
	t.Helper()
	resp, b := ts.send(t, nil, method, path, token, body)
	if err := json.Unmarshal(b, out); err != nil && resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d, body: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// importAnswer is the API's answer to an import.
type importAnswer struct {
	Feed struct {
		Name            string `json:"name"`
		SnapshotVersion string `json:"snapshot_version"`
	} `json:"feed"`
	Added           int `json:"added"`
	Changed         int `json:"changed"`
	Removed         int `json:"removed"`
	HostsReconciled int `json:"hosts_reconciled"`
}

// A KEV or EPSS file that would remove more than a tenth of the stored
// entries, or that is older than the stored snapshot, is refused with the
// numbers and changes nothing; replace=true accepts it. Imports say what
// they added, changed and removed.
func TestKEVAndEPSSSnapshotsAreGuarded(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.tokenFor(t, RoleAdmin)
	ctx := context.Background()
	counts := func() (kev, epss int) {
		_, kev, epss, err := ts.db.CountAdvisories(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return kev, epss
	}
	var res importAnswer
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=kev", admin, kevFile(t, "2025-08-25T17:04:19.9796Z", -1), &res); code != 200 {
		t.Fatalf("first KEV import: %d", code)
	}
	if res.Feed.Name != "cisa-kev" || res.Added != 1404 || res.Changed != 0 || res.Removed != 0 || res.Feed.SnapshotVersion != "2025.08.25" {
		t.Errorf("first KEV import: %+v", res)
	}
	var refused errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/feeds/import?name=kev", admin, kevFile(t, "2025-08-26T10:00:00Z", 1), &refused); code != 409 ||
		refused.Error.Code != "feed_refused" || !strings.Contains(refused.Error.Message, "would remove 1403 of the 1404 stored KEV entries") {
		t.Errorf("one-entry KEV file: %d %+v", code, refused.Error)
	}
	if kev, _ := counts(); kev != 1404 {
		t.Errorf("after the refused import the catalog holds %d entries, want 1404", kev)
	}
	refused = errorBody{}
	if code := ts.callRefused(t, "POST", "/api/v1/feeds/import?name=kev", admin, kevFile(t, "2025-08-01T00:00:00Z", -1), &refused); code != 409 ||
		!strings.Contains(refused.Error.Message, "older than the stored one (2025-08-25T17:04:19Z, version 2025.08.25)") {
		t.Errorf("older KEV snapshot: %d %+v", code, refused.Error)
	}
	res = importAnswer{}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=kev&replace=true", admin, kevFile(t, "2025-08-26T10:00:00Z", 1), &res); code != 200 ||
		res.Added != 0 || res.Changed != 0 || res.Removed != 1403 {
		t.Errorf("one-entry KEV file with replace: %d %+v", code, res)
	}
	if kev, _ := counts(); kev != 1 {
		t.Errorf("after replace the catalog holds %d entries, want 1", kev)
	}

	res = importAnswer{}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=epss", admin, epssFile(t, "2026-08-16T00:00:00Z", -1), &res); code != 200 ||
		res.Feed.Name != "first-epss" || res.Added != 49 || res.Removed != 0 {
		t.Errorf("first EPSS import: %d %+v", code, res)
	}
	refused = errorBody{}
	if code := ts.callRefused(t, "POST", "/api/v1/feeds/import?name=epss", admin, epssFile(t, "2026-08-17T00:00:00Z", 1), &refused); code != 409 ||
		!strings.Contains(refused.Error.Message, "would remove 48 of the 49 stored EPSS scores") {
		t.Errorf("3-line EPSS file: %d %+v", code, refused.Error)
	}
	refused = errorBody{}
	if code := ts.callRefused(t, "POST", "/api/v1/feeds/import?name=epss", admin, epssFile(t, "2026-08-15T00:00:00Z", -1), &refused); code != 409 ||
		!strings.Contains(refused.Error.Message, "older than the stored one") {
		t.Errorf("older EPSS snapshot: %d %+v", code, refused.Error)
	}
	if _, epss := counts(); epss != 49 {
		t.Errorf("after the refused imports %d EPSS scores are stored, want 49", epss)
	}
	// 45 of the 49 (8% removed) is within the limit.
	res = importAnswer{}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=epss", admin, epssFile(t, "2026-08-17T00:00:00Z", 45), &res); code != 200 ||
		res.Added != 0 || res.Changed != 0 || res.Removed != 4 {
		t.Errorf("EPSS file 4 rows shorter: %d %+v", code, res)
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=kev&replace=maybe", admin, kevFile(t, "2025-08-26T10:00:00Z", 1), nil); code != 400 {
		t.Errorf("replace=maybe: %d", code)
	}
}

// A file or folder without one valid record is an error and creates no
// feed.
func TestFeedImportWithNoValidRecordCreatesNothing(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.tokenFor(t, RoleAdmin)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("notes/config.json")
	w.Write([]byte(`{"hello":"world"}`))
	w, _ = zw.Create("other.json")
	w.Write([]byte(`[1,2,3]`))
	zw.Close()
	var e errorBody
	if code := ts.callRefused(t, "POST", "/api/v1/feeds/import?name=junk", admin, buf.Bytes(), &e); code != 400 || !strings.Contains(e.Error.Message, "no valid osv record") {
		t.Errorf("folder of non-feed files: %d %+v", code, e.Error)
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=junk", admin, []byte("just some text\n"), nil); code != 400 {
		t.Errorf("text file: %d", code)
	}
	var feeds api.Page[api.FeedStatus]
	ts.call(t, "GET", "/api/v1/feeds", admin, nil, &feeds)
	if len(feeds.Items) != 0 {
		t.Errorf("feeds were created: %+v", feeds.Items)
	}
}

// A feed has one name whether it is imported as "alma" or synced as
// "osv-alma"; deleting it resolves the findings its advisories opened and
// is audited.
func TestFeedDeleteResolvesItsFindings(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	addAlmaHost(t, ts, clock)
	var res importAnswer
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=alma&wait=true", tok["dave"], almaRecord(t), &res); code != 200 || res.Feed.Name != "osv-alma" || res.HostsReconciled != 1 {
		t.Fatalf("import: %d %+v", code, res)
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=osv-alma&wait=true", tok["dave"], almaRecord(t), &res); code != 200 || res.Feed.Name != "osv-alma" {
		t.Fatalf("import under the sync's name: %d %+v", code, res)
	}
	var feeds api.Page[api.FeedStatus]
	ts.call(t, "GET", "/api/v1/feeds", tok["frank"], nil, &feeds)
	var names []string
	for _, f := range feeds.Items {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "f,osv-alma" {
		t.Errorf("feeds: %v, want f,osv-alma", names)
	}
	var fs api.Page[api.Finding]
	ts.call(t, "GET", "/api/v1/hosts/host-9/findings?status=open", tok["frank"], nil, &fs)
	if len(fs.Items) != 1 || fs.Items[0].AdvisoryID != "ALSA-2022:4587" {
		t.Fatalf("open findings before the delete: %+v", fs.Items)
	}
	if code := ts.call(t, "DELETE", "/api/v1/feeds/osv-alma", tok["alice"], nil, nil); code != 403 {
		t.Errorf("an operator deleted a feed: %d", code)
	}
	var del map[string]any
	if code := ts.call(t, "DELETE", "/api/v1/feeds/osv-alma", tok["dave"], nil, &del); code != 200 || del["advisories_removed"] != float64(1) || del["hosts_reconciled"] != float64(1) {
		t.Fatalf("delete: %d %v", code, del)
	}
	fs = api.Page[api.Finding]{}
	ts.call(t, "GET", "/api/v1/hosts/host-9/findings?status=all", tok["frank"], nil, &fs)
	if len(fs.Items) != 1 || fs.Items[0].Status != "resolved" || fs.Items[0].Resolution != "advisory no longer affects pcs 0.11.1-1.el9" {
		t.Errorf("findings after the delete: %+v", fs.Items)
	}
	if _, err := ts.db.GetAdvisory(ctx, "ALSA-2022:4587"); err == nil {
		t.Error("the feed's advisory is still stored")
	}
	es := storedAudit(t, ts)
	if e := es[len(es)-1]; e.Summary != "feed osv-alma deleted" || e.Actor != "dave" || e.Action != "DELETE /api/v1/feeds/{name}" {
		t.Errorf("audit of the delete: %+v", e)
	}
	if code := ts.call(t, "DELETE", "/api/v1/feeds/osv-alma", tok["dave"], nil, nil); code != 404 {
		t.Errorf("deleting it again: %d", code)
	}
}
