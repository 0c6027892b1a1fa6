package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/metrics"
	"github.com/patchbay/patchbay/internal/store"
)

// reportInputFromRows is the report input built the way it was before the
// store kept report rows: every active host (ListHosts, with its facts)
// and every finding row (ListFindings of all statuses, the advisory's
// publication looked up one by one), mapped through the organisation.
func reportInputFromRows(t *testing.T, s *Server) metrics.Input {
	t.Helper()
	ctx := context.Background()
	var in metrics.Input
	hosts, err := s.allHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, org := s.org.get()
	type hostCtx struct {
		team, group, ring, owner string
		crit                     int
		held                     func(string) bool
	}
	hc := map[string]hostCtx{}
	for _, h := range hosts {
		eff := org.Effective(hostInfo(h))
		c := hostCtx{team: eff.Team, ring: eff.Ring, crit: eff.Criticality}
		if len(eff.Groups) > 0 {
			p, now := eff.Policy, s.now()
			c.group, c.held = eff.Groups[0], func(pkg string) bool { _, ok := p.Held(pkg, now); return ok }
		}
		if len(eff.Stakeholders) > 0 {
			c.owner = eff.Stakeholders[0]
		}
		hc[h.ID] = c
		in.Hosts = append(in.Hosts, metrics.Host{ID: h.ID, Team: c.team, Group: c.group, Ring: c.ring, Criticality: c.crit})
	}
	f := store.FindingFilter{Status: "all", Limit: 2}
	for {
		fs, next, err := s.store.ListFindings(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sf := range fs {
			c, ok := hc[sf.HostID]
			if !ok {
				t.Fatalf("ListFindings returned a finding of inactive host %s", sf.HostID)
			}
			a, err := s.store.GetAdvisory(ctx, sf.AdvisoryID)
			if err != nil {
				t.Fatal(err)
			}
			mf := metrics.Finding{ID: sf.ID, HostID: sf.HostID, Team: c.team, Group: c.group, Ring: c.ring, Severity: sf.Severity, KEV: sf.KEV,
				Criticality: c.crit, Priority: sf.Priority, Published: a.Published, FirstSeen: sf.FirstSeenAt, ResolvedAt: sf.ResolvedAt,
				DueAt: sf.DueAt, Excepted: sf.ExceptionID != "", Owner: c.owner}
			if sf.FixAvailable {
				t := sf.FirstSeenAt
				mf.FixAvailableAt = &t
			}
			mf.Held = c.held != nil && c.held(sf.Name)
			if mf.Published.Unix() <= 0 {
				mf.Published = time.Time{}
			}
			in.Findings = append(in.Findings, mf)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	return in
}

func TestReportFromReportRowsEqualsReportFromFindingRows(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	db, s := ts.db, ts.Server
	start := clock.now()

	// Three more hosts: one more in payments-prod, one in no group, one to
	// be revoked; each with openssl (held in payments) and bash.
	db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk2", Hash: "h2", Prefix: "p2", ExpiresAt: clock.now().AddDate(1, 0, 0), CreatedAt: clock.now(),
		Labels: map[string]string{"app": "intranet"}})
	db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk3", Hash: "h3", Prefix: "p3", ExpiresAt: clock.now().AddDate(1, 0, 0), CreatedAt: clock.now(),
		Labels: map[string]string{"app": "payments", "env": "prod"}})
	facts := inventory.Facts{OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, PackageFormat: inventory.FormatDpkg}
	pkgs := func(openssl, bash string) []inventory.Package {
		var ps []inventory.Package
		if openssl != "" {
			ps = append(ps, inventory.Package{Name: "openssl", Version: openssl, Arch: "amd64"})
		}
		if bash != "" {
			ps = append(ps, inventory.Package{Name: "bash", Version: bash, Arch: "amd64"})
		}
		return ps
	}
	sync := func(host string) {
		t.Helper()
		tuples, _ := db.UnmatchedTuples(ctx, host, "ubuntu", "22.04")
		res := map[int64][]match.Match{}
		for _, tu := range tuples {
			switch {
			case tu.Name == "openssl" && tu.Version == "3.0.2-0ubuntu1":
				res[tu.PVID] = []match.Match{{AdvisoryID: "A-1", Fixed: "9"}}
			case tu.Name == "bash" && tu.Version == "5.1-6":
				res[tu.PVID] = []match.Match{{AdvisoryID: "A-2", Fixed: "9"}}
			default:
				res[tu.PVID] = nil
			}
		}
		if err := db.SaveMatches(ctx, "ubuntu", "22.04", res); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReconcileFindings(ctx, host, "ubuntu", "22.04", func(string, string) bool { return true }, clock.now()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Rescore(ctx, host, s.vulns.score); err != nil {
			t.Fatal(err)
		}
	}
	checkin := func(host string, full bool, ps []inventory.Package, removes ...string) {
		t.Helper()
		f := facts
		f.Hostname = host
		c := store.Checkin{Facts: f, Full: full, Removes: removes}
		if full {
			c.Packages = ps
		} else {
			h, _ := db.GetHost(ctx, host)
			c.BaseRevision, c.Upserts = h.Revision, ps
		}
		if _, err := db.ApplyCheckin(ctx, host, c, clock.now()); err != nil {
			t.Fatal(err)
		}
		sync(host)
	}
	enroll := func(token, id string) {
		t.Helper()
		if _, err := db.EnrollHost(ctx, token, store.Host{ID: id, Hostname: id, CertSerial: "s-" + id, CertNotAfter: clock.now().AddDate(1, 0, 0),
			EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		f := metrics.Filter{From: start, To: clock.now()}
		got, err := s.reportInput(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := reportInputFromRows(t, s)
		if len(want.Findings) == 0 {
			t.Fatalf("%s: no findings", step)
		}
		a, _ := json.Marshal(metrics.Compute(want, f, clock.now()))
		b, _ := json.Marshal(metrics.Compute(got, f, clock.now()))
		if string(a) != string(b) {
			t.Fatalf("%s: report from report rows differs from the report from finding rows:\nrows        %s\nreport rows %s", step, a, b)
		}
		// And through the API.
		var api []byte
		if code := ts.call(t, "GET", "/api/v1/report?from="+start.Format(time.DateOnly), tok["admin"], nil, &api); code != 200 {
			t.Fatalf("%s: report status %d", step, code)
		}
		var rep metrics.Report
		if err := json.Unmarshal(api, &rep); err != nil {
			t.Fatal(err)
		}
		if c, _ := json.Marshal(rep); string(c) != string(b) {
			t.Fatalf("%s: API report differs:\n%s\n%s", step, c, b)
		}
	}
	check("one host")

	clock.advance(24 * time.Hour)
	enroll("h3", "host-2")
	checkin("host-2", true, pkgs("3.0.2-0ubuntu1", "5.1-6"))
	enroll("h2", "host-3")
	checkin("host-3", true, pkgs("3.0.2-0ubuntu1", "5.1-6"))
	enroll("h2", "host-4")
	checkin("host-4", true, pkgs("3.0.2-0ubuntu1", "5.1-6"))
	check("four hosts")

	clock.advance(10 * 24 * time.Hour)
	checkin("host-2", false, pkgs("3.0.2-0ubuntu9", "")) // upgrade: A-1 resolves on host-2
	checkin("host-3", false, nil, "bash:amd64")          // removal: A-2 resolves on host-3
	check("resolved")

	clock.advance(5 * 24 * time.Hour)
	checkin("host-2", false, pkgs("3.0.2-0ubuntu1", "")) // downgrade: A-1 reopens
	check("reopened")

	clock.advance(24 * time.Hour)
	if _, err := db.ApplyExceptions(ctx, "", []store.ExceptionCover{{ID: "E1", AdvisoryID: "A-2"}, {ID: "E2", Package: "openssl", HostIDs: []string{"host-3"}}}); err != nil {
		t.Fatal(err)
	}
	check("excepted")
	if _, err := db.ApplyExceptions(ctx, "", []store.ExceptionCover{{ID: "E2", Package: "openssl", HostIDs: []string{"host-4"}}}); err != nil {
		t.Fatal(err)
	}
	check("exceptions changed")

	clock.advance(24 * time.Hour)
	if err := db.RevokeHost(ctx, "host-4", clock.now()); err != nil {
		t.Fatal(err)
	}
	check("host removed")

	clock.advance(40 * 24 * time.Hour)
	check("later, with findings overdue")
}
