package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// rollupFleet stores three active hosts and a revoked one with nine
// hand-written findings, seven of them open on active hosts:
//
//	#  host       package  advisory severity priority KEV fix  due      note
//	1  a web1     openssl  A-1      high     80       yes yes  +24h
//	2  a web1     libssl   A-1      high     80       yes yes  +24h
//	3  b web2     openssl  A-1      high     75       yes no   +24h
//	4  c db1      openssl  A-1      high     70       yes yes  +24h     excepted
//	5  a web1     bash     A-2      (none)   40       no  no   -
//	6  b web2     bash     A-2      (none)   35       no  yes  -24h     overdue at t0
//	7  c db1      zlib     A-3      low      10       no  no   +72h
//	8  b web2     zlib     A-3      low      12       no  no   -        resolved
//	9  d old1     openssl  A-1      high     90       yes yes  +24h     host revoked
func rollupFleet(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "f", Kind: "osv"},
		Advisories: []Advisory{advisoryRow("A-1", `{}`, "CVE-2024-0001", "CVE-2024-0002"), advisoryRow("A-2", `{}`, "CVE-2024-0003"),
			advisoryRow("A-3", `{}`)},
		EPSS: []EPSS{{CVE: "CVE-2024-0001", Score: 0.25, Percentile: 0.9}, {CVE: "CVE-2024-0002", Score: 0.5, Percentile: 0.95},
			{CVE: "CVE-2024-0003", Score: 0.125, Percentile: 0.5}}}, t0); err != nil {
		t.Fatal(err)
	}
	enrollToken(t, db, "tk", 0, t0.Add(time.Hour), nil)
	for _, h := range [][2]string{{"a", "web1"}, {"b", "web2"}, {"c", "db1"}, {"d", "old1"}} {
		enrollHost(t, db, newHost(h[0], h[1]))
	}
	day := int64(24 * time.Hour / time.Millisecond)
	due := func(d int64) any { return ms(t0) + d*day }
	rows := []struct {
		id, host, pkg, adv, sev string
		prio                    float64
		kev, fix                bool
		due                     any
		status, exception       string
	}{
		{"f1", "a", "openssl", "A-1", "high", 80, true, true, due(1), "open", ""},
		{"f2", "a", "libssl", "A-1", "high", 80, true, true, due(1), "open", ""},
		{"f3", "b", "openssl", "A-1", "high", 75, true, false, due(1), "open", ""},
		{"f4", "c", "openssl", "A-1", "high", 70, true, true, due(1), "open", "ex1"},
		{"f5", "a", "bash", "A-2", "", 40, false, false, nil, "open", ""},
		{"f6", "b", "bash", "A-2", "", 35, false, true, due(-1), "open", ""},
		{"f7", "c", "zlib", "A-3", "low", 10, false, false, due(3), "open", ""},
		{"f8", "b", "zlib", "A-3", "low", 12, false, false, nil, "resolved", ""},
		{"f9", "d", "openssl", "A-1", "high", 90, true, true, due(1), "open", ""},
	}
	for _, r := range rows {
		if _, err := db.db.ExecContext(ctx, db.q(`INSERT INTO findings (id, host_id, name, arch, advisory_id, installed_version,
			fixed_version, fix_available, status, first_seen_at, severity, priority, kev, due_at, exception_id)
			VALUES (?, ?, ?, 'amd64', ?, '1', '2', ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.id, r.host, r.pkg, r.adv, r.fix, r.status, ms(t0), r.sev, r.prio, r.kev, r.due, r.exception); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeHost(ctx, "d", t0); err != nil {
		t.Fatal(err)
	}
}

// summary is a roll-up row as the expectations below write it.
func summary(r Rollup) string {
	due := "-"
	if r.DueAt != nil {
		due = fmt.Sprintf("%+dd", int(r.DueAt.Sub(t0)/(24*time.Hour)))
	}
	return fmt.Sprintf("%s %s prio=%g findings=%d excepted=%d hosts=%d advisories=%d fixhosts=%d fixfindings=%d kev=%d overdue=%d epss=%g due=%s",
		r.Key, r.Hostname, r.Priority, r.Findings, r.Excepted, r.Hosts, r.Advisories, r.FixHosts, r.FixFindings, r.KEVFindings, r.Overdue, r.EPSS, due)
}

func TestFindingRollupsCountDistinctHostsAndSkipRevokedAndResolved(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		rollupFleet(t, db)
		ctx := context.Background()
		want := map[RollupBy][]string{
			ByAdvisory: {
				"A-1  prio=80 findings=4 excepted=1 hosts=3 advisories=1 fixhosts=2 fixfindings=3 kev=4 overdue=0 epss=0.5 due=+1d",
				"A-2  prio=40 findings=2 excepted=0 hosts=2 advisories=1 fixhosts=1 fixfindings=1 kev=0 overdue=1 epss=0.125 due=-1d",
				"A-3  prio=10 findings=1 excepted=0 hosts=1 advisories=1 fixhosts=0 fixfindings=0 kev=0 overdue=0 epss=-1 due=+3d",
			},
			ByHost: {
				"a web1 prio=80 findings=3 excepted=0 hosts=1 advisories=2 fixhosts=1 fixfindings=2 kev=2 overdue=0 epss=-1 due=+1d",
				"b web2 prio=75 findings=2 excepted=0 hosts=1 advisories=2 fixhosts=1 fixfindings=1 kev=1 overdue=1 epss=-1 due=-1d",
				"c db1 prio=70 findings=2 excepted=1 hosts=1 advisories=2 fixhosts=1 fixfindings=1 kev=1 overdue=0 epss=-1 due=+1d",
			},
			ByPackage: {
				"libssl  prio=80 findings=1 excepted=0 hosts=1 advisories=1 fixhosts=1 fixfindings=1 kev=1 overdue=0 epss=0.5 due=+1d",
				"openssl  prio=80 findings=3 excepted=1 hosts=3 advisories=1 fixhosts=2 fixfindings=2 kev=3 overdue=0 epss=0.5 due=+1d",
				"bash  prio=40 findings=2 excepted=0 hosts=2 advisories=1 fixhosts=1 fixfindings=1 kev=0 overdue=1 epss=0.125 due=-1d",
				"zlib  prio=10 findings=1 excepted=0 hosts=1 advisories=1 fixhosts=0 fixfindings=0 kev=0 overdue=0 epss=-1 due=+3d",
			},
		}
		for by, w := range want {
			rs, next, total, err := db.FindingRollup(ctx, by, RollupFilter{Now: t0})
			if err != nil {
				t.Fatalf("%s: %v", by, err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, summary(r))
			}
			if !slices.Equal(got, w) || next != "" || total != len(w) {
				t.Errorf("by %s (total %d, next %q):\n got %q\nwant %q", by, total, next, got, w)
			}
		}
		counts, err := db.OpenFindingsByHost(ctx, []string{"a", "b", "c", "x"})
		if err != nil || counts["a"] != 3 || counts["b"] != 2 || counts["c"] != 2 || len(counts) != 3 {
			t.Errorf("open findings by host: %v %v", counts, err)
		}
	})
}

func TestFindingFiltersSelectUnknownSeverityAndNone(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		rollupFleet(t, db)
		ctx := context.Background()
		for _, c := range []struct {
			severity string
			want     []string
		}{{"unknown", []string{"f5", "f6"}}, {"none", nil}, {"low", []string{"f7"}}, {"", []string{"f1", "f2", "f3", "f4", "f5", "f6", "f7"}}} {
			fs, _, err := db.ListFindings(ctx, FindingFilter{Severity: c.severity})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("severity %q: got %v, want %v", c.severity, got, c.want)
			}
		}
		for _, c := range []struct{ max, want int }{{0, 7}, {5, 6}, {7, 7}, {10, 7}} {
			if n, err := db.CountFindingsUpTo(ctx, FindingFilter{}, c.max); err != nil || n != c.want {
				t.Errorf("count of the 7 open findings up to %d: %d (%v), want %d", c.max, n, err, c.want)
			}
		}
		if n, _ := db.CountFindings(ctx, FindingFilter{Status: "all"}); n != 8 {
			t.Errorf("count of every finding of active hosts: %d, want 8", n)
		}
		rs, _, total, err := db.FindingRollup(ctx, ByAdvisory, RollupFilter{Severity: "unknown", Now: t0})
		if err != nil || total != 1 || len(rs) != 1 || rs[0].Key != "A-2" {
			t.Errorf("advisories of unknown severity: %+v %d %v", rs, total, err)
		}
		yes, no := true, false
		for _, c := range []struct {
			name string
			f    RollupFilter
			want []string
		}{
			{"kev", RollupFilter{KEV: &yes}, []string{"a", "b", "c"}},
			{"fix available", RollupFilter{FixAvailable: &yes}, []string{"a", "b", "c"}},
			{"no fix available", RollupFilter{FixAvailable: &no}, []string{"a", "b", "c"}},
			{"overdue", RollupFilter{Overdue: true}, []string{"b"}},
			{"excepted", RollupFilter{Excepted: &yes}, []string{"c"}},
			{"hosts", RollupFilter{HostIDs: []string{"a", "c"}}, []string{"a", "c"}},
			{"no hosts", RollupFilter{HostIDs: []string{}}, nil},
			{"package", RollupFilter{Package: "zlib"}, []string{"c"}},
		} {
			c.f.Now, c.f.Sort = t0, "hostname"
			rs, _, total, err := db.FindingRollup(ctx, ByHost, c.f)
			var got []string
			for _, r := range rs {
				got = append(got, r.Key)
			}
			slices.Sort(got)
			if err != nil || !slices.Equal(got, c.want) || total != len(c.want) {
				t.Errorf("%s: got %v (total %d, %v), want %v", c.name, got, total, err, c.want)
			}
		}
	})
}

func TestFindingRollupPagesVisitEachGroupOnceInEveryOrder(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		rollupFleet(t, db)
		ctx := context.Background()
		// Hand-written orders for a few columns (ties break on the key).
		wantOrder := map[string][]string{
			"advisory/hosts":     {"A-1", "A-2", "A-3"},
			"advisory/due":       {"A-2", "A-1", "A-3"},
			"advisory/epss":      {"A-1", "A-2", "A-3"},
			"advisory/advisory":  {"A-1", "A-2", "A-3"},
			"host/hostname":      {"c", "a", "b"},
			"host/overdue":       {"b", "a", "c"},
			"package/hosts":      {"openssl", "bash", "libssl", "zlib"},
			"package/package":    {"bash", "libssl", "openssl", "zlib"},
			"package/fix_hosts":  {"openssl", "bash", "libssl", "zlib"},
			"host/fix_findings":  {"a", "b", "c"},
			"advisory/fix_hosts": {"A-1", "A-2", "A-3"},
			"package/advisories": {"bash", "libssl", "openssl", "zlib"},
			"host/priority":      {"a", "b", "c"},
			"advisory/excepted":  {"A-1", "A-2", "A-3"},
			"package/findings":   {"openssl", "bash", "libssl", "zlib"},
			"host/advisories":    {"a", "b", "c"},
			"advisory/priority":  {"A-1", "A-2", "A-3"},
			"package/kev":        {"openssl", "libssl", "bash", "zlib"},
			"host/kev":           {"a", "b", "c"},
			"package/due":        {"bash", "libssl", "openssl", "zlib"},
			"advisory/overdue":   {"A-2", "A-1", "A-3"},
			"host/due":           {"b", "a", "c"},
			"package/epss":       {"libssl", "openssl", "bash", "zlib"},
			"advisory/findings":  {"A-1", "A-2", "A-3"},
			"advisory/kev":       {"A-1", "A-2", "A-3"},
			"host/findings":      {"a", "b", "c"},
			"host/excepted":      {"c", "a", "b"},
			"package/priority":   {"libssl", "openssl", "bash", "zlib"},
			"package/excepted":   {"openssl", "bash", "libssl", "zlib"},
			"package/overdue":    {"bash", "libssl", "openssl", "zlib"},
		}
		for by, cols := range RollupColumns {
			for _, col := range cols {
				for _, order := range []string{"", "asc", "desc"} {
					var keys []string
					after := ""
					for pages := 0; ; pages++ {
						if pages > 10 {
							t.Fatalf("%s/%s %s: paging does not end", by, col, order)
						}
						rs, next, total, err := db.FindingRollup(ctx, by, RollupFilter{Now: t0, Sort: col, Order: order, Limit: 1, After: after})
						if err != nil {
							t.Fatalf("%s/%s %s: %v", by, col, order, err)
						}
						if total != map[RollupBy]int{ByAdvisory: 3, ByHost: 3, ByPackage: 4}[by] {
							t.Errorf("%s/%s: total %d", by, col, total)
						}
						for _, r := range rs {
							keys = append(keys, r.Key)
						}
						if next == "" {
							break
						}
						after = next
					}
					key := string(by) + "/" + col
					want, ok := wantOrder[key]
					if !ok {
						t.Errorf("no expected order for %s", key)
						continue
					}
					if order == "" && !slices.Equal(keys, want) {
						t.Errorf("%s by pages of one: %v, want %v", key, keys, want)
					}
					sorted := slices.Clone(keys)
					slices.Sort(sorted)
					slices.Sort(want)
					if !slices.Equal(sorted, slices.Compact(slices.Clone(sorted))) || !slices.Equal(sorted, want) {
						t.Errorf("%s %s: pages gave %v, want each of %v once", key, order, keys, want)
					}
				}
			}
		}
		if _, _, _, err := db.FindingRollup(ctx, ByHost, RollupFilter{Sort: "epss"}); !errors.Is(err, ErrBadFilter) {
			t.Errorf("sort by an unknown column: %v", err)
		}
		if _, _, _, err := db.FindingRollup(ctx, ByHost, RollupFilter{After: "garbage"}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("bad cursor: %v", err)
		}
	})
}
