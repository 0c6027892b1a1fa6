package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// randFinding is a finding as the random roll-up test writes it and counts
// it by hand.
type randFinding struct {
	id, host, pkg, adv, sev, exception, status string
	prio                                       float64
	kev, fix                                   bool
	due                                        *int64 // days from t0
}

// TestFindingRollupsEqualAGroupByOverRandomFindings pages every roll-up in
// every order, with filters, over random findings that change between
// rounds (opened, resolved, excepted, rescored), and compares each page
// with groups counted here in Go from the rows the test wrote.
func TestFindingRollupsEqualAGroupByOverRandomFindings(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(17, 27))
		advs := []string{"R-1", "R-2", "R-3", "R-4", "R-5", "R-6"}
		epss := map[string]float64{"R-1": 0.5, "R-2": 0.25, "R-4": 0.75, "R-5": 0.25}
		var imp FeedImport
		imp.Status = FeedStatus{Name: "f", Kind: "osv"}
		for i, a := range advs {
			cve := fmt.Sprintf("CVE-2025-%04d", i)
			imp.Advisories = append(imp.Advisories, advisoryRow(a, `{}`, cve))
			if s, ok := epss[a]; ok {
				imp.EPSS = append(imp.EPSS, EPSS{CVE: cve, Score: s, Percentile: 0.5})
			}
		}
		if _, err := db.ImportFeed(ctx, imp, t0); err != nil {
			t.Fatal(err)
		}
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
		hosts := map[string]string{"h1": "web", "h2": "web", "h3": "db1", "h4": "app", "h5": "zz", "h6": "old"}
		for _, id := range []string{"h1", "h2", "h3", "h4", "h5", "h6"} {
			if _, err := db.EnrollHost(ctx, "h-tk", newHost(id, hosts[id]), t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RevokeHost(ctx, "h6", t0); err != nil {
			t.Fatal(err)
		}
		pkgs := []string{"bash", "openssl", "zlib", "curl", "glibc"}
		sevs := []string{"critical", "high", "low", ""}
		pick := func(s []string) string { return s[rng.IntN(len(s))] }
		var fs []randFinding
		randomize := func(f *randFinding) {
			f.sev, f.prio = pick(sevs), float64(rng.IntN(8)*10)
			f.kev, f.fix = rng.IntN(3) == 0, rng.IntN(2) == 0
			f.due = nil
			if rng.IntN(3) > 0 {
				d := int64(rng.IntN(7) - 3)
				f.due = &d
			}
			f.exception = ""
			if rng.IntN(5) == 0 {
				f.exception = "ex"
			}
			f.status = "open"
			if rng.IntN(6) == 0 {
				f.status = "resolved"
			}
		}
		write := func(f randFinding, insert bool) {
			var due any
			if f.due != nil {
				due = ms(t0) + *f.due*int64(24*time.Hour/time.Millisecond)
			}
			q := `UPDATE findings SET severity = ?, priority = ?, kev = ?, fix_available = ?, due_at = ?, exception_id = ?, status = ? WHERE id = ?`
			if insert {
				q = `INSERT INTO findings (severity, priority, kev, fix_available, due_at, exception_id, status, id, host_id, name, arch,
					advisory_id, installed_version, fixed_version, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'amd64', ?, '1', '2', ?)`
			}
			args := []any{f.sev, f.prio, f.kev, f.fix, due, f.exception, f.status, f.id}
			if insert {
				args = append(args, f.host, f.pkg, f.adv, ms(t0))
			}
			if _, err := db.db.ExecContext(ctx, db.q(q), args...); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for round := 0; round < 4; round++ {
			// New findings (an import or a reconcile), then changes to
			// some old ones (resolved, excepted, rescored).
			for range 25 {
				f := randFinding{host: fmt.Sprintf("h%d", 1+rng.IntN(6)), pkg: pick(pkgs), adv: pick(advs)}
				k := f.host + "/" + f.pkg + "/" + f.adv
				if seen[k] {
					continue
				}
				seen[k] = true
				f.id = fmt.Sprintf("rf%d", len(fs))
				randomize(&f)
				write(f, true)
				fs = append(fs, f)
			}
			for i := range fs {
				if rng.IntN(4) == 0 {
					randomize(&fs[i])
					write(fs[i], false)
				}
			}
			kev, notExcepted := true, false
			for _, flt := range []RollupFilter{{}, {Severity: "unknown"}, {KEV: &kev}, {Excepted: &notExcepted}, {Overdue: true},
				{HostIDs: []string{"h1", "h3"}}} {
				flt.Now = t0
				for by, cols := range RollupColumns {
					want := groupByHand(fs, hosts, epss, by, flt)
					for _, col := range cols {
						for _, order := range []string{"asc", "desc"} {
							checkRollupPages(t, db, by, col, order, flt, want)
						}
					}
				}
			}
		}
	})
}

// groupByHand counts the open findings of active hosts (h6 is revoked)
// that flt selects, grouped by by.
func groupByHand(fs []randFinding, hostnames map[string]string, epss map[string]float64, by RollupBy, flt RollupFilter) map[string]Rollup {
	type acc struct {
		r                     Rollup
		hosts, advs, fixHosts map[string]bool
		due                   *int64
	}
	groups := map[string]*acc{}
	for _, f := range fs {
		if f.status != "open" || f.host == "h6" {
			continue
		}
		if flt.HostIDs != nil && !slices.Contains(flt.HostIDs, f.host) ||
			flt.Severity == "unknown" && f.sev != "" ||
			flt.KEV != nil && f.kev != *flt.KEV ||
			flt.Excepted != nil && (f.exception != "") != *flt.Excepted ||
			flt.Overdue && (f.due == nil || *f.due >= 0) {
			continue
		}
		key := map[RollupBy]string{ByAdvisory: f.adv, ByHost: f.host, ByPackage: f.pkg}[by]
		g := groups[key]
		if g == nil {
			g = &acc{r: Rollup{Key: key, EPSS: -1}, hosts: map[string]bool{}, advs: map[string]bool{}, fixHosts: map[string]bool{}}
			if by == ByHost {
				g.r.Hostname = hostnames[key]
			}
			groups[key] = g
		}
		g.r.Priority = max(g.r.Priority, f.prio)
		g.r.Findings++
		g.hosts[f.host], g.advs[f.adv] = true, true
		if f.exception != "" {
			g.r.Excepted++
		}
		if f.fix {
			g.r.FixFindings++
			g.fixHosts[f.host] = true
		}
		if f.kev {
			g.r.KEVFindings++
		}
		if f.due != nil {
			if *f.due < 0 {
				g.r.Overdue++
			}
			if g.due == nil || *f.due < *g.due {
				g.due = f.due
			}
		}
		if s, ok := epss[f.adv]; ok && by != ByHost {
			g.r.EPSS = max(g.r.EPSS, s)
		}
	}
	out := map[string]Rollup{}
	for k, g := range groups {
		g.r.Hosts, g.r.Advisories, g.r.FixHosts = len(g.hosts), len(g.advs), len(g.fixHosts)
		if by == ByHost {
			g.r.Hosts = 1
		}
		if by == ByAdvisory {
			g.r.Advisories = 1
		}
		if g.due != nil {
			d := t0.Add(time.Duration(*g.due) * 24 * time.Hour)
			g.r.DueAt = &d
		}
		out[k] = g.r
	}
	return out
}

// checkRollupPages pages a roll-up three groups at a time and compares the
// pages with want, ordered by col (ties by key; hostnames by hostname then
// host ID).
func checkRollupPages(t *testing.T, db *DB, by RollupBy, col, order string, flt RollupFilter, want map[string]Rollup) {
	t.Helper()
	var wantRows []Rollup
	for _, r := range want {
		wantRows = append(wantRows, r)
	}
	val := func(r Rollup) float64 {
		switch col {
		case "priority":
			return r.Priority
		case "hosts":
			return float64(r.Hosts)
		case "advisories":
			return float64(r.Advisories)
		case "findings":
			return float64(r.Findings)
		case "excepted":
			return float64(r.Excepted)
		case "fix_hosts":
			return float64(r.FixHosts)
		case "fix_findings":
			return float64(r.FixFindings)
		case "kev":
			return float64(r.KEVFindings)
		case "overdue":
			return float64(r.Overdue)
		case "epss":
			return r.EPSS
		case "due":
			if r.DueAt == nil {
				return 1e18
			}
			return float64(r.DueAt.UnixMilli())
		}
		return 0
	}
	slices.SortFunc(wantRows, func(a, b Rollup) int {
		c := 0
		switch col {
		case "hostname":
			c = cmp.Compare(a.Hostname, b.Hostname)
		case "advisory", "package":
		default:
			c = cmp.Compare(val(a), val(b))
		}
		if order == "desc" {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.Key, b.Key)
			if order == "desc" && (col == "advisory" || col == "package") {
				c = -c
			}
		}
		return c
	})
	var wantLines, got []string
	for _, r := range wantRows {
		wantLines = append(wantLines, summary(r))
	}
	flt.Sort, flt.Order, flt.Limit, flt.After = col, order, 3, ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatalf("%s/%s %s: paging does not end", by, col, order)
		}
		rs, next, total, err := db.FindingRollup(context.Background(), by, flt)
		if err != nil {
			t.Fatalf("%s/%s %s: %v", by, col, order, err)
		}
		if total != len(want) {
			t.Errorf("%s/%s %s %+v: total %d, want %d", by, col, order, flt, total, len(want))
		}
		for _, r := range rs {
			got = append(got, summary(r))
		}
		if next == "" {
			break
		}
		flt.After = next
	}
	if !slices.Equal(got, wantLines) {
		t.Errorf("%s/%s %s (filter %+v):\n got %q\nwant %q", by, col, order, flt, got, wantLines)
	}
}
