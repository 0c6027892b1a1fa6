package server

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// ubuntuLowRecord is an Ubuntu OSV record whose only severity is Ubuntu's
// priority word "low": no CVSS vector at all.
const ubuntuLowRecord = `{"schema_version":"1.6.3","id":"UBUNTU-CVE-2099-0003","modified":"2026-05-01T00:00:00Z",
"published":"2026-05-01T00:00:00Z","summary":"zlib: a low flaw","upstream":["CVE-2099-0003"],
"severity":[{"type":"Ubuntu","score":"low"}],
"affected":[{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"zlib"},
"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.11.dfsg-2ubuntu9.9"}]}]}]}`

// rollupServer is a server with three hosts and seven open findings
// (matches written by hand, scored by the server's own scorer):
//
//	host  package  advisory                severity
//	web1  openssl  A-1 (CVSS 9.8)          critical
//	web1  libssl3  A-1                     critical
//	web1  bash     A-2 (no severity)       unknown
//	web2  openssl  A-1                     critical
//	web2  bash     A-2                     unknown
//	db1   openssl  A-1                     critical
//	db1   zlib     UBUNTU-CVE-2099-0003    low (Ubuntu's word, no CVSS)
//
// Only web1's repositories offer updates (openssl and bash: fixes).
// So A-1 has 4 findings on 3 distinct hosts; web1 has 3 open findings,
// web2 and db1 2 each.
func rollupServer(t *testing.T) (*testServer, string) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	ts := newTestServerAt(t, clock.now)
	admin := ts.tokenFor(t, RoleAdmin)
	ctx := context.Background()
	db := ts.db
	if _, err := db.ImportFeed(ctx, store.FeedImport{Status: store.FeedStatus{Name: "hand", Kind: "osv"}, Advisories: []store.Advisory{
		{ID: "A-1", Source: "osv", Published: clock.now(), Modified: clock.now(), Summary: "openssl flaw", Data: []byte(`{}`),
			CVSS: []string{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, CVEs: []string{"CVE-2099-0001"}},
		{ID: "A-2", Source: "osv", Published: clock.now(), Modified: clock.now(), Summary: "bash flaw", Data: []byte(`{}`)},
	}}, clock.now()); err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=ubuntu", admin, []byte(ubuntuLowRecord), nil); code != 200 {
		t.Fatalf("import the Ubuntu record: %d", code)
	}
	if err := db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk", Hash: "h", Prefix: "p", ExpiresAt: clock.now().AddDate(1, 0, 0),
		CreatedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	affects := map[string]string{"openssl": "A-1", "libssl3": "A-1", "bash": "A-2", "zlib": "UBUNTU-CVE-2099-0003"}
	for _, h := range []struct {
		name string
		pkgs []string
	}{{"web1", []string{"openssl", "libssl3", "bash", "coreutils"}}, {"web2", []string{"openssl", "bash"}}, {"db1", []string{"openssl", "zlib"}}} {
		id := "id-" + h.name
		if _, err := db.EnrollHost(ctx, "h", store.Host{ID: id, Hostname: h.name, CertSerial: "s-" + id, CertNotAfter: clock.now().AddDate(1, 0, 0),
			EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
			t.Fatal(err)
		}
		c := store.Checkin{Facts: inventory.Facts{Hostname: h.name, OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, PackageFormat: inventory.FormatDpkg}, Full: true}
		for _, p := range h.pkgs {
			c.Packages = append(c.Packages, inventory.Package{Name: p, Version: "1.0", Arch: "amd64"})
		}
		if h.name == "web1" { // only web1's repositories offer fixes: for openssl and bash
			c.Updates, c.UpdatesChanged = []store.Update{{Name: "openssl", Arch: "amd64", Version: "9"}, {Name: "bash", Arch: "amd64", Version: "9"}}, true
		}
		if _, err := db.ApplyCheckin(ctx, id, c, clock.now()); err != nil {
			t.Fatal(err)
		}
		tuples, err := db.UnmatchedTuples(ctx, id, "ubuntu", "22.04")
		if err != nil {
			t.Fatal(err)
		}
		res := map[int64][]match.Match{}
		for _, tu := range tuples {
			if adv, ok := affects[tu.Name]; ok {
				res[tu.PVID] = []match.Match{{AdvisoryID: adv, Fixed: "9"}}
			} else {
				res[tu.PVID] = nil
			}
		}
		if err := db.SaveMatches(ctx, "ubuntu", "22.04", res); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReconcileFindings(ctx, id, "ubuntu", "22.04", func(string, string) bool { return true }, clock.now()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Rescore(ctx, id, ts.vulns.score); err != nil {
			t.Fatal(err)
		}
	}
	return ts, admin
}

func TestAPINumbersMatchHandCountedFindings(t *testing.T) {
	ts, admin := rollupServer(t)

	var hosts api.Page[api.Host]
	if code := ts.call(t, "GET", "/api/v1/hosts", admin, nil, &hosts); code != 200 {
		t.Fatal(code)
	}
	got := map[string]int{}
	for _, h := range hosts.Items {
		got[h.Hostname] = h.OpenFindings
	}
	if want := map[string]int{"web1": 3, "web2": 2, "db1": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hosts list open findings %v, want %v", got, want)
	}

	// The console's hosts list shows the same counts.
	chs, _, _, err := consoleBackend{ts.Server}.Hosts(context.Background(), web.HostQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]int{}
	for _, h := range chs {
		got[h.Hostname] = h.Findings
	}
	if want := map[string]int{"web1": 3, "web2": 2, "db1": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("console hosts list findings %v, want %v", got, want)
	}
	// And the console's finding list filters unknown severity.
	cfs, _, err := consoleBackend{ts.Server}.Findings(context.Background(), web.FindingQuery{Severity: "unknown", Limit: 50})
	if err != nil || len(cfs) != 2 {
		t.Errorf("console findings of unknown severity: %d (%v), want 2", len(cfs), err)
	}
	for q, want := range map[web.FindingQuery]int{{}: 7, {Severity: "unknown"}: 2, {Host: "web1"}: 3, {Host: "nosuch"}: 0} {
		if n, err := (consoleBackend{ts.Server}).CountFindings(context.Background(), q); err != nil || n != want {
			t.Errorf("console count of %+v: %d (%v), want %d", q, n, err, want)
		}
	}

	var show api.Page[api.Vulnerability]
	if code := ts.call(t, "GET", "/api/v1/vulns/A-1", admin, nil, &show); code != 200 || len(show.Items) != 1 {
		t.Fatalf("show A-1: %d %+v", code, show)
	}
	if v := show.Items[0]; v.AffectedHosts != 3 || len(v.Findings) != 4 {
		t.Errorf("A-1: affected hosts %d, findings %d; want 3 hosts, 4 findings", v.AffectedHosts, len(v.Findings))
	}

	for _, c := range []struct {
		query string
		want  []string // hostname/package, sorted
	}{
		{"severity=unknown", []string{"web1/bash", "web2/bash"}},
		{"severity=none", nil},
		{"severity=low", []string{"db1/zlib"}},
		{"severity=critical&host=web2", []string{"web2/openssl"}},
		{"advisory=A-1&host=db1", []string{"db1/openssl"}},
	} {
		var page api.Page[api.Finding]
		if code := ts.call(t, "GET", "/api/v1/vulns?"+c.query, admin, nil, &page); code != 200 {
			t.Fatalf("%s: %d", c.query, code)
		}
		var names []string
		for _, f := range page.Items {
			names = append(names, f.Hostname+"/"+f.Package)
		}
		slices.Sort(names)
		if !slices.Equal(names, c.want) || page.Total != len(c.want) {
			t.Errorf("vulns?%s: %v (total %d), want %v", c.query, names, page.Total, c.want)
		}
	}

	// The Ubuntu priority word is a severity, not a CVSS vector.
	var low api.Page[api.Finding]
	ts.call(t, "GET", "/api/v1/vulns?severity=low", admin, nil, &low)
	if len(low.Items) != 1 {
		t.Fatalf("low findings: %+v", low.Items)
	}
	reasons := strings.Join(low.Items[0].Reasons, "; ")
	if strings.Contains(reasons, "CVSS vector") || !strings.Contains(reasons, "distro severity low") {
		t.Errorf("the Ubuntu low finding's reasons: %s", reasons)
	}

	// Paging the finding list: total is all 7, pages of 3 give each once.
	var ids []string
	q := url.Values{"limit": {"3"}}
	for pages := 0; ; pages++ {
		var page api.Page[api.Finding]
		if code := ts.call(t, "GET", "/api/v1/vulns?"+q.Encode(), admin, nil, &page); code != 200 || page.Total != 7 || pages > 3 {
			t.Fatalf("page %d: %d total %d", pages, code, page.Total)
		}
		for _, f := range page.Items {
			ids = append(ids, f.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		q.Set("page_token", page.NextPageToken)
	}
	if slices.Sort(ids); len(slices.Compact(ids)) != 7 {
		t.Errorf("pages gave %d distinct findings, want 7", len(ids))
	}
}

func TestAPIRollupsByAdvisoryHostAndPackage(t *testing.T) {
	ts, admin := rollupServer(t)
	rollup := func(by, query string) api.Page[api.FindingRollup] {
		t.Helper()
		var page api.Page[api.FindingRollup]
		if code := ts.call(t, "GET", "/api/v1/vulns/by/"+by+"?"+query, admin, nil, &page); code != 200 {
			t.Fatalf("by %s ?%s: %d", by, query, code)
		}
		return page
	}
	adv := rollup("advisory", "sort=advisory")
	var rows []string
	for _, r := range adv.Items {
		rows = append(rows, fmt.Sprintf("%s %s hosts=%d findings=%d fixhosts=%d", r.AdvisoryID, r.Severity, r.Hosts, r.Findings, r.FixHosts))
	}
	want := []string{"A-1 critical hosts=3 findings=4 fixhosts=1", "A-2 unknown hosts=2 findings=2 fixhosts=1",
		"UBUNTU-CVE-2099-0003 low hosts=1 findings=1 fixhosts=0"}
	if !slices.Equal(rows, want) || adv.Total != 3 {
		t.Errorf("by advisory (total %d):\n%q\nwant\n%q", adv.Total, rows, want)
	}
	if adv.Items[0].FindingsURL != "/api/v1/vulns?advisory=A-1" {
		t.Errorf("drill-down %q", adv.Items[0].FindingsURL)
	}

	hostRows := rollup("host", "sort=hostname")
	rows = nil
	for _, r := range hostRows.Items {
		rows = append(rows, fmt.Sprintf("%s advisories=%d findings=%d", r.Hostname, r.Advisories, r.Findings))
	}
	if want := []string{"db1 advisories=2 findings=2", "web1 advisories=2 findings=3", "web2 advisories=2 findings=2"}; !slices.Equal(rows, want) {
		t.Errorf("by host: %q, want %q", rows, want)
	}
	if p := rollup("host", "host=web2"); len(p.Items) != 1 || p.Items[0].Hostname != "web2" {
		t.Errorf("by host, filtered by hostname: %+v", p.Items)
	}
	if p := rollup("package", "package=openssl"); len(p.Items) != 1 || p.Items[0].Hosts != 3 || p.Items[0].Findings != 3 {
		t.Errorf("openssl: %+v", p.Items)
	}
	if p := rollup("advisory", "severity=unknown"); p.Total != 1 || p.Items[0].AdvisoryID != "A-2" {
		t.Errorf("advisories of unknown severity: %+v", p)
	}

	// Pages of one by package visit the four packages once each.
	var pkgs []string
	q := url.Values{"limit": {"1"}, "sort": {"hosts"}}
	for pages := 0; pages < 10; pages++ {
		p := rollup("package", q.Encode())
		if p.Total != 4 {
			t.Fatalf("total %d, want 4", p.Total)
		}
		for _, r := range p.Items {
			pkgs = append(pkgs, r.Package)
		}
		if p.NextPageToken == "" {
			break
		}
		q.Set("page_token", p.NextPageToken)
	}
	// openssl 3 hosts, bash 2, then libssl3 and zlib (1 each) by name.
	if want := []string{"openssl", "bash", "libssl3", "zlib"}; !slices.Equal(pkgs, want) {
		t.Errorf("packages by hosts, a page at a time: %v, want %v", pkgs, want)
	}

	// The console's grouped view shows the same numbers.
	crs, _, total, err := consoleBackend{ts.Server}.FindingRollup(context.Background(), web.RollupQuery{By: "advisory", Sort: "advisory", Limit: 50})
	if err != nil || total != 3 || len(crs) != 3 || crs[0].Key != "A-1" || crs[0].Hosts != 3 || crs[0].Findings != 4 || crs[1].Severity != "unknown" {
		t.Errorf("console by advisory: %+v (total %d, %v)", crs, total, err)
	}
	crs, _, _, err = consoleBackend{ts.Server}.FindingRollup(context.Background(), web.RollupQuery{By: "host", Host: "web1", Limit: 50})
	if err != nil || len(crs) != 1 || crs[0].Label != "web1" || crs[0].Findings != 3 {
		t.Errorf("console by host, web1: %+v %v", crs, err)
	}
	if crs, _, _, _ := (consoleBackend{ts.Server}).FindingRollup(context.Background(), web.RollupQuery{By: "host", Host: "nosuch", Limit: 50}); len(crs) != 0 {
		t.Errorf("console by host for an unknown host: %+v", crs)
	}

	for _, bad := range []string{"by/advisory?sort=nope", "by/advisory?severity=bad", "by/advisory?page_token=zz", "by/advisory?kev=maybe"} {
		if code := ts.call(t, "GET", "/api/v1/vulns/"+bad, admin, nil, nil); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code := ts.call(t, "GET", "/api/v1/vulns/by/cve", admin, nil, nil); code != 404 {
		t.Errorf("by cve: %d, want 404", code)
	}
}
