package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/metrics"
)

// rawReportFindings reads the report's view of every finding straight from
// the findings rows, as the store did before report rows existed: the
// definition the packed rows must reproduce.
func rawReportFindings(t *testing.T, db *DB) []ReportFinding {
	t.Helper()
	ctx := context.Background()
	rows, err := db.db.QueryContext(ctx, `SELECT f.id, f.host_id, f.name, f.severity, f.kev, f.fix_available, f.exception_id <> '',
			f.priority, COALESCE(a.published, 0), f.first_seen_at, f.resolved_at, f.due_at
		FROM findings f LEFT JOIN advisories a ON a.id = f.advisory_id ORDER BY f.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ReportFinding
	for rows.Next() {
		var f ReportFinding
		var pub, first int64
		var res, due sql.NullInt64
		if err := rows.Scan(&f.ID, &f.HostID, &f.Name, &f.Severity, &f.KEV, &f.FixAvailable, &f.Excepted, &f.Priority, &pub, &first, &res, &due); err != nil {
			t.Fatal(err)
		}
		f.Published, f.FirstSeen, f.ResolvedAt, f.DueAt = fromMS(pub), fromMS(first), fromMSPtr(res), fromMSPtr(due)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func packedReportFindings(t *testing.T, db *DB) []ReportFinding {
	t.Helper()
	var out []ReportFinding
	if err := db.AllFindings(context.Background(), func(f ReportFinding) error { out = append(out, f); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b ReportFinding) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// reportOf computes a year of KPIs at now over findings, with every host
// critical, as the server would (without its organisation).
func reportOf(fs []ReportFinding, hosts []string, now time.Time) string {
	var in metrics.Input
	for _, h := range hosts {
		in.Hosts = append(in.Hosts, metrics.Host{ID: h, Criticality: 5})
	}
	for _, f := range fs {
		mf := metrics.Finding{ID: f.ID, HostID: f.HostID, Severity: f.Severity, KEV: f.KEV, Criticality: 5, Priority: f.Priority,
			Published: f.Published, FirstSeen: f.FirstSeen, ResolvedAt: f.ResolvedAt, DueAt: f.DueAt, Excepted: f.Excepted, Owner: "ops"}
		if f.FixAvailable {
			mf.FixAvailableAt = &mf.FirstSeen
		}
		in.Findings = append(in.Findings, mf)
	}
	rep := metrics.Compute(in, metrics.Filter{From: now.AddDate(-1, 0, 0), To: now}, now)
	b, _ := json.Marshal(rep)
	return string(b)
}

// testScore scores from the advisory alone, so that a test can predict it.
func testScore(in ScoreInput) Score {
	var n int
	fmt.Sscanf(in.AdvisoryID, "A-%d", &n)
	due := in.FirstSeenAt.Add(time.Duration(7*(n+1)) * 24 * time.Hour)
	return Score{Severity: in.Severity, Priority: 2.5 + float64(n), SSVC: "track", Reasons: []string{"advisory " + in.AdvisoryID},
		KEV: in.KEV, DueAt: &due, DueReason: "test SLA"}
}

// matchPkgs affects pkgN 1.0-1 by A-N (fixed in 1.0-2), and pkg0 by A-3 too.
func matchPkgs(t PVTuple) []match.Match {
	var n int
	if _, err := fmt.Sscanf(t.Name, "pkg%d", &n); err != nil || t.Version != "1.0-1" {
		return nil
	}
	ms := []match.Match{{AdvisoryID: fmt.Sprintf("A-%d", n), Fixed: "1.0-2"}}
	if n == 0 {
		ms = append(ms, match.Match{AdvisoryID: "A-3", Fixed: "1.0-3"})
	}
	return ms
}

func pkgN(n int, version string) inventory.Package {
	return inventory.Package{Name: fmt.Sprintf("pkg%d", n), Version: version, Arch: "amd64", Source: fmt.Sprintf("src%d", n)}
}

// history drives db through the real store functions: import, enrollment,
// check-ins, matching and reconciliation at given times.
type history struct {
	t   *testing.T
	db  *DB
	ctx context.Context
}

func (h history) importAdvisories() {
	h.t.Helper()
	var advs []Advisory
	for i, sev := range []string{"critical", "high", "medium", "low"} {
		a := advisoryRow(fmt.Sprintf("A-%d", i), `{}`, fmt.Sprintf("CVE-2026-000%d", i))
		a.Severity, a.Published = sev, t0.Add(-time.Duration(i)*24*time.Hour)
		advs = append(advs, a)
	}
	if _, err := h.db.ImportFeed(h.ctx, FeedImport{Status: FeedStatus{Name: "f", Kind: "osv"}, Advisories: advs,
		KEV: []KEV{{CVE: "CVE-2026-0000", Vendor: "v", Product: "p", Name: "n", DateAdded: t0, DueDate: t0.Add(72 * time.Hour)}}}, t0); err != nil {
		h.t.Fatal(err)
	}
}

func (h history) checkin(host string, c Checkin, at time.Time) {
	h.t.Helper()
	c.Facts = ubuntuFacts()
	c.Facts.Hostname = host
	if !c.Full {
		got, err := h.db.GetHost(h.ctx, host)
		if err != nil {
			h.t.Fatal(err)
		}
		c.BaseRevision = got.Revision
	}
	if _, err := h.db.ApplyCheckin(h.ctx, host, c, at); err != nil {
		h.t.Fatal(err)
	}
}

// sync matches the host's new package versions and reconciles its findings.
func (h history) sync(host string, at time.Time) {
	h.t.Helper()
	tuples, err := h.db.UnmatchedTuples(h.ctx, host, "ubuntu", "22.04")
	if err != nil {
		h.t.Fatal(err)
	}
	res := map[int64][]match.Match{}
	for _, tu := range tuples {
		res[tu.PVID] = matchPkgs(tu)
	}
	if err := h.db.SaveMatches(h.ctx, "ubuntu", "22.04", res); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.db.ReconcileFindings(h.ctx, host, "ubuntu", "22.04", func(u, fixed string) bool { return u >= fixed }, at); err != nil {
		h.t.Fatal(err)
	}
}

func TestReportRowsGiveTheSameReportAsTheFindingsRows(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		h := history{t, db, ctx}
		h.importAdvisories()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), map[string]string{"criticality": "4"})
		hosts := []string{"h0", "h1", "h2"}
		for _, id := range hosts {
			enrollHost(t, db, newHost(id, id))
		}
		now := t0.AddDate(0, 2, 0)
		check := func(step string) {
			t.Helper()
			raw, packed := rawReportFindings(t, db), packedReportFindings(t, db)
			if len(raw) == 0 || !reflect.DeepEqual(raw, packed) {
				t.Fatalf("%s: report rows differ from the findings rows:\nraw    %+v\npacked %+v", step, raw, packed)
			}
			if a, b := reportOf(raw, hosts, now), reportOf(packed, hosts, now); a != b {
				t.Fatalf("%s: reports differ:\nraw    %s\npacked %s", step, a, b)
			}
		}
		at := func(days int) time.Time { return t0.Add(time.Duration(days) * 24 * time.Hour) }

		all := []inventory.Package{pkgN(0, "1.0-1"), pkgN(1, "1.0-1"), pkgN(2, "1.0-1"), pkgN(3, "1.0-1"), pkgN(4, "2.0-1")}
		for i, id := range hosts {
			h.checkin(id, Checkin{Full: true, Packages: all[i:], Updates: []Update{{Name: "pkg3", Arch: "amd64", Version: "1.0-2", Repo: "r"}}}, at(i))
			h.sync(id, at(i))
		}
		check("opened")
		if _, err := db.Rescore(ctx, "", testScore); err != nil {
			t.Fatal(err)
		}
		check("scored")
		h.checkin("h0", Checkin{Upserts: []inventory.Package{pkgN(1, "1.0-2")}}, at(5))
		h.sync("h0", at(5))
		check("resolved by an upgrade")
		h.checkin("h0", Checkin{Upserts: []inventory.Package{pkgN(1, "1.0-1")}}, at(9))
		h.sync("h0", at(9))
		check("reopened by a downgrade")
		h.checkin("h1", Checkin{Removes: []string{"pkg2:amd64"}}, at(12))
		h.sync("h1", at(12))
		check("resolved by a removal")
		h.checkin("h2", Checkin{UpdatesChanged: true}, at(13)) // the fix is no longer offered
		h.sync("h2", at(13))
		check("fix withdrawn")
		if _, err := db.ApplyExceptions(ctx, "", []ExceptionCover{{ID: "E1", AdvisoryID: "A-0"}, {ID: "E2", Package: "pkg3", HostIDs: []string{"h2"}}}); err != nil {
			t.Fatal(err)
		}
		check("excepted")
		if _, err := db.ApplyExceptions(ctx, "", []ExceptionCover{{ID: "E2", Package: "pkg3", HostIDs: []string{"h1"}}}); err != nil {
			t.Fatal(err)
		}
		check("exceptions changed")
		if _, err := db.ApplyExceptions(ctx, "h1", nil); err != nil {
			t.Fatal(err)
		}
		check("one host's exceptions lifted")
		if err := db.RevokeHost(ctx, "h2", at(20)); err != nil {
			t.Fatal(err)
		}
		check("host revoked")
		if _, err := db.Rescore(ctx, "", func(in ScoreInput) Score { s := testScore(in); s.Priority *= 2; s.DueAt = nil; return s }); err != nil {
			t.Fatal(err)
		}
		check("rescored")
		// A database from before report rows existed gets them on start.
		if _, err := db.wdb.ExecContext(ctx, `DELETE FROM report_hosts`); err != nil {
			t.Fatal(err)
		}
		if err := db.fillReport(ctx); err != nil {
			t.Fatal(err)
		}
		check("filled on start")
	})
}

// dump reads a query's rows as text, for comparing two databases.
func dump(t *testing.T, db *DB, query string) []string {
	t.Helper()
	rows, err := db.db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadFleetWritesWhatTheRealPathsWrite(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			real, _ := open(t)
			loaded, _ := open(t)
			t1 := t0.Add(10 * 24 * time.Hour)
			pkgs := []inventory.Package{pkgN(0, "1.0-1"), pkgN(1, "1.0-1"), pkgN(2, "1.0-1"), pkgN(5, "3.1-4")}
			updates := []Update{{Name: "pkg0", Arch: "amd64", Version: "1.0-2", Repo: "security"}}

			// The real way: enroll, full check-in, match, reconcile, score;
			// ten days later h0 upgrades pkg1 and h1 removes pkg2.
			h := history{t, real, ctx}
			h.importAdvisories()
			enrollToken(t, real, "tk", 0, t0.Add(time.Hour), map[string]string{"criticality": "3"})
			for _, id := range []string{"h0", "h1"} {
				enrollHost(t, real, newHost(id, id))
				h.checkin(id, Checkin{Full: true, Packages: pkgs, Updates: updates, UpdatesChanged: true}, t0)
				h.sync(id, t0)
			}
			if _, err := real.Rescore(ctx, "", testScore); err != nil {
				t.Fatal(err)
			}
			h.checkin("h0", Checkin{Upserts: []inventory.Package{pkgN(1, "1.0-2")}}, t1)
			h.sync("h0", t1)
			h.checkin("h1", Checkin{Removes: []string{"pkg2:amd64"}}, t1)
			h.sync("h1", t1)

			// The same in one LoadFleet.
			history{t, loaded, ctx}.importAdvisories()
			enrollToken(t, loaded, "tk", 0, t0.Add(time.Hour), map[string]string{"criticality": "3"})
			var fleet []FleetHost
			for _, id := range []string{"h0", "h1"} {
				facts := ubuntuFacts()
				facts.Hostname = id
				host := newHost(id, id)
				host.UserLabels, host.EnrollTokenID, host.LastSeenAt = map[string]string{"criticality": "3"}, "tk", t1
				fh := FleetHost{Host: host, Facts: facts, Updates: updates}
				var resolved inventory.Package
				if id == "h0" {
					fh.Packages = []inventory.Package{pkgs[0], pkgN(1, "1.0-2"), pkgs[2], pkgs[3]}
					resolved = pkgs[1]
				} else {
					fh.Packages = []inventory.Package{pkgs[0], pkgs[1], pkgs[3]}
					resolved = pkgs[2]
				}
				for _, p := range pkgs {
					for _, m := range matchPkgs(PVTuple{Tuple: match.Tuple{Name: p.Name, Version: p.Version}}) {
						a, _ := real.GetAdvisory(ctx, m.AdvisoryID)
						kev := m.AdvisoryID == "A-0"
						sc := testScore(ScoreInput{AdvisoryID: m.AdvisoryID, Severity: a.Severity, FirstSeenAt: t0, KEV: kev})
						f := FleetFinding{Name: p.Name, Arch: p.Arch, AdvisoryID: m.AdvisoryID, InstalledVersion: p.Version, FixedVersion: m.Fixed, Source: p.Source,
							FixAvailable: p.Name == "pkg0" && m.Fixed == "1.0-2", FirstSeen: t0, Severity: sc.Severity, Priority: sc.Priority,
							SSVC: sc.SSVC, Reasons: sc.Reasons, KEV: sc.KEV, DueAt: sc.DueAt, DueReason: sc.DueReason}
						if p == resolved {
							f.ResolvedAt = &t1
						}
						fh.Findings = append(fh.Findings, f)
					}
				}
				fleet = append(fleet, fh)
			}
			if err := loaded.LoadFleet(ctx, fleet); err != nil {
				t.Fatal(err)
			}

			pv := `pv.format, pv.name, pv.version, pv.arch, pv.source, pv.source_version`
			for _, q := range []string{
				// revision counts check-ins, which LoadFleet does not make.
				`SELECT id, hostname, facts, os_id, os_version, package_format, reboot_required, labels, user_labels, problems,
					enrolled_at, last_seen_at, revoked_at, cert_serial, prev_cert_serial, cert_not_after, package_count, update_count, enroll_token_id
					FROM hosts ORDER BY id`,
				`SELECT host_id, key, value FROM host_labels ORDER BY host_id, key`,
				`SELECT hp.host_id, hp.name, hp.arch, ` + pv + ` FROM host_packages hp JOIN package_versions pv ON pv.id = hp.pv_id ORDER BY 1, 2, 3`,
				`SELECT host_id, name, arch, version, repo FROM host_updates ORDER BY host_id, name, arch`,
				`SELECT m.distro, m.release, ` + pv + ` FROM pv_matched m JOIN package_versions pv ON pv.id = m.pv_id ORDER BY 1, 2, 3, 4, 5, 6`,
				`SELECT m.distro, m.release, m.advisory_id, m.fixed, ` + pv + ` FROM pv_matches m JOIN package_versions pv ON pv.id = m.pv_id
					ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`,
				`SELECT host_id, name, arch, advisory_id, installed_version, fixed_version, fix_available, status, first_seen_at,
					resolved_at, resolution, reopened, severity, priority, ssvc, reasons, kev, due_at, due_reason, exception_id
					FROM findings ORDER BY host_id, name, arch, advisory_id`,
				`SELECT f.host_id, f.name, f.arch, f.advisory_id, e.at, e.kind, e.detail FROM finding_events e JOIN findings f ON f.id = e.finding_id
					ORDER BY 1, 2, 3, 4, 5, 6`,
			} {
				want, got := dump(t, real, q), dump(t, loaded, q)
				if len(want) == 0 || !reflect.DeepEqual(want, got) {
					t.Errorf("%s\nreal paths:\n  %s\nLoadFleet:\n  %s", strings.Join(strings.Fields(q), " "), strings.Join(want, "\n  "), strings.Join(got, "\n  "))
				}
			}
			withoutIDs := func(fs []ReportFinding) []ReportFinding {
				for i := range fs {
					fs[i].ID = ""
				}
				slices.SortFunc(fs, func(a, b ReportFinding) int {
					return strings.Compare(a.HostID+a.Name+a.Severity+fmt.Sprint(a.Priority), b.HostID+b.Name+b.Severity+fmt.Sprint(b.Priority))
				})
				return fs
			}
			if want, got := withoutIDs(packedReportFindings(t, real)), withoutIDs(packedReportFindings(t, loaded)); !reflect.DeepEqual(want, got) {
				t.Errorf("report rows:\nreal paths %+v\nLoadFleet  %+v", want, got)
			}
			// Reconciling the loaded hosts again changes nothing: the
			// findings agree with the packages and match results.
			for _, id := range []string{"h0", "h1"} {
				r, err := loaded.ReconcileFindings(ctx, id, "ubuntu", "22.04", func(u, fixed string) bool { return u >= fixed }, t1)
				if err != nil || r != (Reconciled{}) {
					t.Errorf("reconcile %s after LoadFleet: %+v %v", id, r, err)
				}
			}
		})
	}
}

func TestReportRowsRoundTrip(t *testing.T) {
	due, res := sql.NullInt64{Int64: -5, Valid: true}, sql.NullInt64{Int64: 1 << 45, Valid: true}
	in := []packedFinding{
		{id: "f1", name: "pkg", advisoryID: "A-1", severity: "critical", kev: true, priority: 9.75, firstSeen: 1700000000123, resolvedAt: res, dueAt: due},
		{id: "f2", name: "=HYPERLINK(\"x\")\x00\n", advisoryID: "", severity: "", fixAvailable: true, excepted: true, priority: -0.5, firstSeen: 0},
	}
	var out []packedFinding
	if err := unpackReportFindings(string(packReportFindings(in)), func(f packedFinding) error { out = append(out, f); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	if err := unpackReportFindings(string(packReportFindings(nil)), func(packedFinding) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func FuzzUnpackReportFindings(f *testing.F) {
	f.Add(string(packReportFindings([]packedFinding{{id: "f1", name: "n", advisoryID: "a", severity: "high", priority: 1, firstSeen: 5,
		resolvedAt: sql.NullInt64{Int64: 6, Valid: true}}})))
	f.Add("")
	f.Fuzz(func(t *testing.T, p string) {
		var got []packedFinding
		if err := unpackReportFindings(p, func(f packedFinding) error { got = append(got, f); return nil }); err != nil {
			return
		}
		// Whatever decodes re-encodes to a value that decodes the same.
		enc := packReportFindings(got)
		var again []packedFinding
		if err := unpackReportFindings(string(enc), func(f packedFinding) error { again = append(again, f); return nil }); err != nil ||
			string(packReportFindings(again)) != string(enc) {
			t.Fatalf("re-encoding %q: %v %+v %+v", p, err, got, again)
		}
	})
}
