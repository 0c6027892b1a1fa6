package server

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

// quarantineOrg is the example organisation with payments-prod
// quarantining hosts whose high findings are 3 days past due.
func quarantineOrg(t *testing.T, rule string) []byte {
	t.Helper()
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rule == "" {
		return org
	}
	out := strings.Replace(string(org), "  - name: payments-staging\n", "    enforcement: "+rule+"\n  - name: payments-staging\n", 1)
	if out == string(org) {
		t.Fatal("example organisation changed: payments-staging not found")
	}
	return []byte(out)
}

// openActions lists "action name" of the host's open jobs.
func openActions(t *testing.T, db *store.DB, host string, now time.Time) []string {
	t.Helper()
	jobs, err := db.OpenJobs(context.Background(), host, now, jobGate())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		var env protocol.Envelope
		var job protocol.Job
		if json.Unmarshal(j.Envelope, &env) != nil || json.Unmarshal(env.Payload, &job) != nil {
			t.Fatalf("job %s: envelope %s", j.ID, j.Envelope)
		}
		out = append(out, string(job.Action)+" "+job.Name)
	}
	return out
}

func hostAuditActions(t *testing.T, db *store.DB, prefix string) []string {
	t.Helper()
	var out []string
	err := db.AuditRange(context.Background(), 0, 0, func(r store.AuditRecord) error {
		var e struct{ Action, Target string }
		if err := json.Unmarshal(r.Entry, &e); err != nil {
			return err
		}
		if strings.HasPrefix(e.Action, prefix) {
			out = append(out, e.Action+" "+e.Target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAHostPastItsSLAIsQuarantinedOnceOutsideFreezesAndReleasedWhenPatched(t *testing.T) {
	// 2026-11-25: the host's high finding (A-1, openssl) is first seen;
	// payments' SLA for high is 30 days: due 2026-12-25, plus 3 days' grace.
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	ctx := context.Background()
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], quarantineOrg(t, "{severity: high, grace: 3d, action: quarantine, hook: isolate}"), nil); code != 200 {
		t.Fatalf("apply: %d", code)
	}
	enforce := func() {
		t.Helper()
		for range 2 { // a second pass changes nothing
			if err := ts.Server.Enforce(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := func(d string) {
		t.Helper()
		when, err := time.Parse(time.RFC3339, d)
		if err != nil {
			t.Fatal(err)
		}
		clock.advance(when.Sub(clock.now()))
		enforce()
	}
	at("2026-12-27T12:00:00Z") // past due, within the grace (and in the year-end freeze)
	at("2026-12-29T12:00:00Z") // past due and grace, but the year-end freeze runs to 2027-01-05
	if q, err := ts.db.HostQuarantine(ctx, host); err == nil {
		t.Fatalf("quarantined during a freeze: %+v", q)
	}
	if got := openActions(t, ts.db, host, clock.now()); len(got) != 0 {
		t.Fatalf("jobs during a freeze: %q", got)
	}

	at("2027-01-05T00:01:00Z")
	q, err := ts.db.HostQuarantine(ctx, host)
	if err != nil || !q.Active() || q.Hook != "isolate" || q.Reason != "1 advisories past due and grace: A-1" {
		t.Fatalf("after the freeze: %+v %v; want quarantined for A-1 through isolate", q, err)
	}
	if got := openActions(t, ts.db, host, clock.now()); !slices.Equal(got, []string{"quarantine isolate"}) {
		t.Fatalf("open jobs %q, want one quarantine job naming the hook", got)
	}
	if got := told(t, ts.db, "host.quarantined"); !slices.Equal(got, []string{"alice/sysadmin", "carol/stakeholder"}) {
		t.Errorf("host.quarantined told to %q, want payments-prod's sysadmin and stakeholder once", got)
	}
	if got := hostAuditActions(t, ts.db, "host."); !slices.Equal(got, []string{"host.quarantine host host-1"}) {
		t.Errorf("audit %q, want one quarantine entry", got)
	}

	var shown api.Host
	if code := ts.call(t, "GET", "/api/v1/hosts/"+host, tok["frank"], nil, &shown); code != 200 || shown.Quarantine == nil ||
		!shown.Quarantine.Active || shown.Quarantine.Hook != "isolate" || !shown.Quarantine.QuarantinedAt.Equal(clock.now()) {
		t.Fatalf("GET host: %d %+v; want its active quarantine", code, shown.Quarantine)
	}

	// A change patches openssl: the finding is resolved, the host released.
	facts := inventory.Facts{Hostname: "pay-1", OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, Arch: "x86_64", PackageFormat: inventory.FormatDpkg}
	if _, err := ts.db.ApplyCheckin(ctx, host, store.Checkin{Facts: facts, Full: true, Packages: []inventory.Package{
		{Name: "openssl", Version: "3.0.2-0ubuntu1.9", Arch: "amd64"}, {Name: "bash", Version: "5.1-6", Arch: "amd64"}}}, clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.ReconcileFindings(ctx, host, "ubuntu", "22.04", func(string, string) bool { return false }, clock.now()); err != nil {
		t.Fatal(err)
	}
	at("2027-01-05T00:10:00Z")
	q, err = ts.db.HostQuarantine(ctx, host)
	if err != nil || q.Active() || q.ReleasedAt == nil || !q.ReleasedAt.Equal(clock.now()) || q.Reason != "compliant again" {
		t.Fatalf("after the patch: %+v %v; want released now", q, err)
	}
	if got := openActions(t, ts.db, host, clock.now()); !slices.Equal(got, []string{"quarantine isolate", "release isolate"}) {
		t.Fatalf("open jobs %q, want the quarantine then the release job", got)
	}
	if got := told(t, ts.db, "host.released"); !slices.Equal(got, []string{"alice/sysadmin", "carol/stakeholder"}) {
		t.Errorf("host.released told to %q", got)
	}
	if got := hostAuditActions(t, ts.db, "host."); !slices.Equal(got, []string{"host.quarantine host host-1", "host.release host host-1"}) {
		t.Errorf("audit %q, want the quarantine and the release", got)
	}
}

func TestAHostIsNotQuarantinedWhenItsGroupOnlyNotifies(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	ctx := context.Background()
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], quarantineOrg(t, "{severity: high, action: notify}"), nil); code != 200 {
		t.Fatalf("apply: %d", code)
	}
	clock.advance(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).Sub(clock.now()))
	if err := ts.Server.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	if q, err := ts.db.HostQuarantine(ctx, host); err == nil {
		t.Fatalf("quarantined under action notify: %+v", q)
	}
}

func TestAnExceptedHostIsNotQuarantinedAndAnApprovedExceptionReleasesIt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, host := orgServer(t, clock)
	ctx := context.Background()
	if code := ts.call(t, "POST", "/api/v1/org/apply", tok["admin"], quarantineOrg(t, "{severity: high, grace: 3d, action: quarantine, hook: isolate}"), nil); code != 200 {
		t.Fatalf("apply: %d", code)
	}
	except := func(expires string) {
		t.Helper()
		var ex ExceptionView
		body := []byte(`{"group":"payments-prod","advisory":"A-1","justification":"WAF rule blocks the vector","expires":"` + expires + `"}`)
		if code := ts.call(t, "POST", "/api/v1/exceptions", tok["alice"], body, &ex); code != 201 {
			t.Fatalf("request: %d", code)
		}
		if code := ts.call(t, "POST", "/api/v1/exceptions/"+ex.ID+"/approve", tok["bob"], nil, &ex); code != 200 {
			t.Fatalf("approve: %d", code)
		}
	}
	active := func() bool {
		t.Helper()
		if err := ts.Server.ExpireExceptions(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ts.Server.Enforce(ctx); err != nil {
			t.Fatal(err)
		}
		q, err := ts.db.HostQuarantine(ctx, host)
		return err == nil && q.Active()
	}
	except("1200h") // 50 days: to 2027-01-14 12:00
	clock.advance(time.Date(2027, 1, 6, 0, 0, 0, 0, time.UTC).Sub(clock.now()))
	if active() {
		t.Fatal("quarantined while its only overdue finding is excepted")
	}
	clock.advance(time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC).Sub(clock.now()))
	if !active() {
		t.Fatal("not quarantined once the exception expired")
	}
	except("240h")
	if active() {
		t.Fatal("still quarantined after an exception was approved")
	}
	if got := openActions(t, ts.db, host, clock.now()); !slices.Equal(got, []string{"quarantine isolate", "release isolate"}) {
		t.Fatalf("open jobs %q, want one quarantine and one release", got)
	}
}
