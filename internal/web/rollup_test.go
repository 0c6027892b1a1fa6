package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTheFindingsGroupedByAdvisoryHostAndPackage(t *testing.T) {
	e := newEnv(t)
	op := e.browser()
	op.signIn("operator")

	// The finding list links the grouped views, keeping its filters.
	_, body := op.get("/vulns?severity=critical")
	for _, want := range []string{`href="/vulns?by=advisory&amp;severity=critical"`, `href="/vulns?by=host&amp;severity=critical"`,
		`<strong aria-current="page">Each finding</strong>`} {
		if !strings.Contains(body, want) {
			t.Errorf("/vulns lacks %s", want)
		}
	}

	// By advisory: the fake's three findings are three advisories on one
	// host each; each drills down to its hosts.
	resp, body := op.get("/vulns?by=advisory")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("by advisory: %d", resp.StatusCode)
	}
	for _, want := range []string{`id="rollup"`, `1–3 of 3 advisories`, `href="/vulns?by=host&amp;advisory=CVE-2024-3094"`,
		`<th scope="col" aria-sort="descending"><a href="/vulns?by=advisory&amp;order=asc&amp;sort=priority">Priority</a>`,
		`<a href="/vulns?by=advisory&amp;sort=hosts">Hosts</a>`, `<strong aria-current="page">By advisory</strong>`} {
		if !strings.Contains(body, want) {
			t.Errorf("by advisory lacks %s", want)
		}
	}
	if n := strings.Count(body, `<td class="num hosts">1</td>`); n != 3 {
		t.Errorf("by advisory: %d rows with 1 host, want 3", n)
	}
	// By host, filtered by hostname; the row links the host page, and the
	// hostname an agent reported stays text.
	_, body = op.get("/vulns?by=host&host=db-01.example.net")
	if !strings.Contains(body, `href="/hosts/h2" class="drill">db-01.example.net</a>`) || !strings.Contains(body, `1–1 of 1 hosts`) {
		t.Errorf("by host for db-01:\n%s", body)
	}
	_, body = op.get("/vulns?by=host")
	if strings.Contains(body, "<script>") {
		t.Error("a hostile hostname reached the page unescaped")
	}
	_, body = op.get("/vulns?by=package&package=musl")
	if !strings.Contains(body, `href="/vulns?by=host&amp;package=musl"`) {
		t.Errorf("by package musl: no drill-down to its hosts")
	}
	for _, bad := range []string{"/vulns?by=cve", "/vulns?by=advisory&sort=nope", "/vulns?by=host&order=up", "/vulns?by=package&fix=maybe"} {
		if resp, _ := op.get(bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestAHostPageShowsItsPackagesAHundredAtATime(t *testing.T) {
	e := newEnv(t)
	// 250 packages, written by hand: pkg-000 … pkg-249.
	var pkgs []Package
	for i := range 250 {
		pkgs = append(pkgs, Package{Name: fmt.Sprintf("pkg-%03d", i), Version: "1.0", Arch: "amd64"})
	}
	e.fake.mu.Lock()
	e.fake.packages["h1"] = pkgs
	e.fake.mu.Unlock()
	op := e.browser()
	op.signIn("operator")
	for _, c := range []struct {
		query, shows, first, last string
		prev, next                bool
	}{
		{"", "1–100 of 250", "pkg-000", "pkg-099", false, true},
		{"?packages=2", "101–200 of 250", "pkg-100", "pkg-199", true, true},
		{"?packages=3", "201–250 of 250", "pkg-200", "pkg-249", true, false},
		{"?packages=9", "201–250 of 250", "pkg-200", "pkg-249", true, false}, // past the end: the last page
	} {
		_, body := op.get("/hosts/h1" + c.query)
		if !strings.Contains(body, `id="packages-page">`+c.shows+`<`) || !strings.Contains(body, ">"+c.first+"<") || !strings.Contains(body, ">"+c.last+"<") {
			t.Errorf("/hosts/h1%s: want %s, %s to %s", c.query, c.shows, c.first, c.last)
		}
		if n := strings.Count(body, `<th scope="row">pkg-`); n != 100 && !(c.shows == "201–250 of 250" && n == 50) {
			t.Errorf("/hosts/h1%s: %d package rows", c.query, n)
		}
		if strings.Contains(body, "Previous packages") != c.prev || strings.Contains(body, "Next packages") != c.next {
			t.Errorf("/hosts/h1%s: previous %t next %t links, want %t %t", c.query, strings.Contains(body, "Previous packages"),
				strings.Contains(body, "Next packages"), c.prev, c.next)
		}
	}
}

func TestTheChangePageShowsEachRingsProgressAndTheTimeline(t *testing.T) {
	e := newEnv(t)
	e.fake.mu.Lock()
	c := &e.fake.changes[0]
	c.State = "running"
	// Ring 0 (pilot): web-01 succeeded, the hostile host in flight; ring 1
	// (production): db-01 failed, and one more host pending.
	c.Hosts[0].Status, c.Hosts[1].Status, c.Hosts[2].Status = "succeeded", "in-flight", "failed"
	c.Hosts = append(c.Hosts, ChangeHost{HostID: "h4", Hostname: "db-02.example.net", Ring: 1, Status: "pending", Group: "databases"})
	c.History = []ChangeEvent{{At: e.clock.Now().Add(-time.Hour), Actor: "operator", Kind: "submitted"},
		{At: e.clock.Now().Add(-30 * time.Minute), Actor: "approver", Kind: "approved", Detail: "looks fine"}}
	e.fake.mu.Unlock()
	op := e.browser()
	op.signIn("operator")
	_, body := op.get("/changes/c1")
	for _, want := range []string{
		`id="progress-ring-0"><span class="counts">1 done · 1 in flight · 0 failed · 0 pending</span>`,
		`id="progress-ring-1"><span class="counts">0 done · 0 in flight · 1 failed · 1 pending</span>`,
		`<rect class="p-done" x="0.00" y="0" width="50.00" height="6">`,
		`<rect class="p-flight" x="50.00" y="0" width="50.00" height="6">`,
		`<rect class="p-failed" x="0.00" y="0" width="50.00" height="6">`,
		`<rect class="p-pending" x="50.00" y="0" width="50.00" height="6">`,
		`<span class="tag">approved</span> approver: looks fine</li>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the change page lacks %s", want)
		}
	}
	if i, j := strings.Index(body, ">submitted<"), strings.Index(body, ">approved<"); i < 0 || j < i {
		t.Error("the timeline is not oldest first")
	}
}

func TestTheDashboardBacklogChartHasAPointPerDay(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("approver")
	_, body := b.get("/")
	i := strings.Index(body, `id="dashboard-backlog"`)
	if i < 0 {
		t.Fatal("no backlog chart on the dashboard")
	}
	chart := body[i:]
	chart = chart[:strings.Index(chart, "</svg>")]
	// The fake's 30 days each have open and overdue counts: one unbroken
	// line of 30 points per series.
	lines := regexp.MustCompile(`<polyline class="line (s1|s3)"[^>]* points="([^"]*)"`).FindAllStringSubmatch(chart, -1)
	if len(lines) != 2 {
		t.Fatalf("backlog chart: %d lines, want 2 (open, overdue)", len(lines))
	}
	for _, l := range lines {
		if n := len(strings.Fields(l[2])); n != 30 {
			t.Errorf("line %s has %d points, want 30", l[1], n)
		}
	}
}

func TestTheFindingListSaysWhereThePageIsInTheTotal(t *testing.T) {
	e := newEnv(t)
	op := e.browser()
	op.signIn("operator")
	_, body := op.get("/vulns?limit=2")
	if !strings.Contains(body, `<p id="finding-total">1–2 of 3 open findings`) {
		t.Fatalf("first page:\n%s", body)
	}
	m := regexp.MustCompile(`href="(/vulns\?[^"]*)" rel="next"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(m[1], "skip=2") {
		t.Fatalf("no next page link with skip=2")
	}
	_, body = op.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if !strings.Contains(body, `<p id="finding-total">3–3 of 3 open findings`) {
		t.Errorf("second page does not say 3–3 of 3")
	}
	if _, body := op.get("/vulns?severity=low"); !strings.Contains(body, `<p id="finding-total">0 open findings`) {
		t.Errorf("no low findings: the total says otherwise")
	}
}
