package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/sim"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// planBases are the real package lists of testdata/plan, by image name.
func planBases(t *testing.T) map[string]sim.Base {
	t.Helper()
	bases, err := sim.LoadBases("testdata/plan")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sim.Base{}
	for _, b := range bases {
		out[b.Name] = b
	}
	return out
}

// planHost is one host to enroll in orgServer's payments-prod group.
type planHost struct {
	hostname string
	base     sim.Base
	os       *inventory.OS     // instead of the base's
	arch     string            // machine architecture; "" is x86_64
	versions map[string]string // package name → installed version, instead of the base's
	pkgArch  map[string]string // package name → architecture, instead of the base's
	updates  []store.Update    // what its repositories offer
}

// addPlanHost enrolls h with ID "id-<hostname>" and reports its packages.
func addPlanHost(t *testing.T, ts *testServer, clock *fakeClock, h planHost) string {
	t.Helper()
	ctx, db, id := context.Background(), ts.db, "id-"+h.hostname
	if err := db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk-" + id, Hash: "h-" + id, Prefix: "p-" + id, ExpiresAt: clock.now().Add(time.Hour),
		CreatedAt: clock.now(), Labels: map[string]string{"app": "payments", "env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnrollHost(ctx, "h-"+id, store.Host{ID: id, Hostname: h.hostname, CertSerial: "s-" + id, CertNotAfter: clock.now().AddDate(1, 0, 0),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	facts := inventory.Facts{Hostname: h.hostname, OS: h.base.OS, Arch: h.arch, PackageFormat: h.base.Format}
	if h.os != nil {
		facts.OS = *h.os
	}
	if facts.Arch == "" {
		facts.Arch = "x86_64"
	}
	pkgs := slices.Clone(h.base.Packages)
	for i, p := range pkgs {
		if v, ok := h.versions[p.Name]; ok {
			pkgs[i].Version = v
		}
		if a, ok := h.pkgArch[p.Name]; ok {
			pkgs[i].Arch = a
		}
	}
	if _, err := db.ApplyCheckin(ctx, id, store.Checkin{Facts: facts, Full: true, Packages: pkgs, Updates: h.updates}, clock.now()); err != nil {
		t.Fatal(err)
	}
	return id
}

// reviewLine is one host of a plan's review as a test expects it.
type reviewLine struct {
	status, reason, version string
}

func reviewOf(v ChangeView) map[string]reviewLine {
	out := map[string]reviewLine{}
	for _, h := range v.Review {
		l := reviewLine{status: h.Status, reason: h.Reason}
		if len(h.Targets) > 0 {
			l.version = h.Targets[0].Version
		}
		out[h.Hostname] = l
	}
	return out
}

func checkReview(t *testing.T, v ChangeView, want map[string]reviewLine) {
	t.Helper()
	got := reviewOf(v)
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not in the review", name)
			continue
		}
		if g.status != w.status || !strings.Contains(g.reason, w.reason) || w.reason == "" && g.reason != "" || g.version != w.version {
			t.Errorf("%s: %s %q (%s), want %s %q (%s)", name, g.status, g.version, g.reason, w.status, w.version, w.reason)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in the review, want it not considered: %+v", name, got[name])
		}
	}
}

func plannedHosts(v ChangeView) []string {
	var out []string
	for _, h := range v.Plan.Hosts {
		var ts []string
		for _, x := range h.Targets {
			ts = append(ts, x.Name+"/"+x.Arch+"="+x.Version)
		}
		out = append(out, h.HostID+" "+strings.Join(ts, " "))
	}
	slices.Sort(out)
	return out
}

// TestAnEL8VersionIsPlannedOnlyForEL8Hosts: glibc 2.28-225.el8_8.6 asked for
// every host of the real package lists is planned for the Oracle Linux 8
// host only. Amazon Linux 2, CentOS 6, RHEL 7 (UBI), openSUSE Leap 15.1,
// Photon 3 and Fedora 35 carry glibc too and are excluded with the reason,
// whatever the operator forces; the Debian, Ubuntu and Alpine hosts have no
// glibc package and are not considered.
func TestAnEL8VersionIsPlannedOnlyForEL8Hosts(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	bases := planBases(t)
	for name, b := range bases {
		h := planHost{hostname: name, base: b}
		if name == "amazon-2" {
			// os-release on Amazon Linux 2 says ID="amzn" (the
			// simulator calls it "amazon").
			h.os = &inventory.OS{ID: "amzn", IDLike: []string{"centos", "rhel", "fedora"}, VersionID: "2"}
		}
		if name == "oraclelinux-8-slim" {
			h.updates = []store.Update{{Name: "glibc", Arch: "x86_64", Version: "2.28-225.el8_8.6", Repo: "ol8_baseos_latest"}}
		}
		addPlanHost(t, ts, clock, h)
	}
	const notFor = "glibc 2.28-225.el8_8.6 is built for el 8 (rpm), not this host's "
	want := map[string]reviewLine{
		"oraclelinux-8-slim": {"planned", "", "2.28-225.el8_8.6"},
		"amazon-2":           {"excluded", notFor + "amzn 2 (rpm)", "2.28-225.el8_8.6"},
		"centos-6":           {"excluded", notFor + "el 6 (rpm)", "2.28-225.el8_8.6"},
		"ubi-7":              {"excluded", notFor + "el 7 (rpm)", "2.28-225.el8_8.6"},
		"opensuse-leap-151":  {"excluded", notFor + "suse 15.1 (rpm)", "2.28-225.el8_8.6"},
		"photon-30":          {"excluded", notFor + "photon 3 (rpm)", "2.28-225.el8_8.6"},
		"fedora-35":          {"excluded", notFor + "fedora 35 (rpm)", "2.28-225.el8_8.6"},
	}
	for _, flags := range []string{"", `,"allow_downgrade":true,"force_not_offered":true`} {
		var v ChangeView
		spec := `{"title":"glibc","groups":["payments-prod"],"packages":[{"name":"glibc","version":"2.28-225.el8_8.6"}],"ignore_windows":true` + flags + `}`
		if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &v); code != 201 {
			t.Fatalf("create with %q: %d", flags, code)
		}
		checkReview(t, v, want)
		if got, want := plannedHosts(v), []string{"id-oraclelinux-8-slim glibc/x86_64=2.28-225.el8_8.6"}; !slices.Equal(got, want) {
			t.Errorf("with %q planned %q, want %q", flags, got, want)
		}
		for _, h := range v.Review {
			if h.Group != "payments-prod" || h.Ring != "production" || h.Tier != "" {
				t.Errorf("%s: group %q ring %q tier %q", h.Hostname, h.Group, h.Ring, h.Tier)
			}
		}
	}
}

// TestDowngradesAndVersionsNotOfferedNeedTheOperatorsWord: of three EL8
// hosts (the real Oracle Linux 8 list), one is behind and its repositories
// offer the version, one has a newer glibc already, and one's repositories
// offer an older build. Each option plans exactly the host it is about.
func TestDowngradesAndVersionsNotOfferedNeedTheOperatorsWord(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ol8 := planBases(t)["oraclelinux-8-slim"]
	addPlanHost(t, ts, clock, planHost{hostname: "ol8-behind", base: ol8,
		updates: []store.Update{{Name: "glibc", Arch: "x86_64", Version: "2.28-225.el8_8.6"}}})
	addPlanHost(t, ts, clock, planHost{hostname: "ol8-ahead", base: ol8, versions: map[string]string{"glibc": "2.28-236.el8_9.12"}})
	addPlanHost(t, ts, clock, planHost{hostname: "ol8-stale-repo", base: ol8,
		updates: []store.Update{{Name: "glibc", Arch: "x86_64", Version: "2.28-211.el8"}}})

	const (
		refused    = "glibc 2.28-225.el8_8.6 is lower than the installed 2.28-236.el8_9.12; a downgrade needs allow-downgrade"
		allowed    = "downgrade from 2.28-236.el8_9.12, allowed"
		notOffered = "the repositories do not offer glibc 2.28-225.el8_8.6 (they offer 2.28-211.el8); force-not-offered plans it anyway"
		forced     = "forced: the repositories do not offer glibc 2.28-225.el8_8.6 (they offer 2.28-211.el8)"
	)
	tests := []struct {
		flags   string
		review  map[string]reviewLine
		planned []string
	}{
		{"", map[string]reviewLine{
			"ol8-behind":     {"planned", "", "2.28-225.el8_8.6"},
			"ol8-ahead":      {"downgrade-refused", refused, "2.28-225.el8_8.6"},
			"ol8-stale-repo": {"not-offered", notOffered, "2.28-225.el8_8.6"},
		}, []string{"id-ol8-behind"}},
		{`,"allow_downgrade":true`, map[string]reviewLine{
			"ol8-behind":     {"planned", "", "2.28-225.el8_8.6"},
			"ol8-ahead":      {"planned", "glibc: " + allowed, "2.28-225.el8_8.6"},
			"ol8-stale-repo": {"not-offered", notOffered, "2.28-225.el8_8.6"},
		}, []string{"id-ol8-ahead", "id-ol8-behind"}},
		{`,"force_not_offered":true`, map[string]reviewLine{
			"ol8-behind":     {"planned", "", "2.28-225.el8_8.6"},
			"ol8-ahead":      {"downgrade-refused", refused, "2.28-225.el8_8.6"},
			"ol8-stale-repo": {"planned", "glibc: " + forced, "2.28-225.el8_8.6"},
		}, []string{"id-ol8-behind", "id-ol8-stale-repo"}},
	}
	for _, tt := range tests {
		var v ChangeView
		spec := `{"title":"glibc","groups":["payments-prod"],"packages":[{"name":"glibc","version":"2.28-225.el8_8.6"}],"ignore_windows":true` + tt.flags + `}`
		if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &v); code != 201 {
			t.Fatalf("create with %q: %d", tt.flags, code)
		}
		checkReview(t, v, tt.review)
		var got []string
		for _, h := range v.Plan.Hosts {
			got = append(got, h.HostID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.planned) {
			t.Errorf("with %q planned %v, want %v", tt.flags, got, tt.planned)
		}
	}

	// Nothing to plan is an error that says why, host by host.
	spec := `{"title":"glibc","groups":["payments-prod"],"packages":[{"name":"glibc","version":"2.28-1.el8"}],"ignore_windows":true}`
	code, body := ts.callRaw(t, "POST", "/api/v1/changes", tok["alice"], spec)
	if want := "no host can be planned: ol8-ahead: downgrade-refused (glibc 2.28-1.el8 is lower than the installed 2.28-236.el8_9.12; " +
		"a downgrade needs allow-downgrade); ol8-behind: downgrade-refused (glibc 2.28-1.el8 is lower than the installed 2.28-42.0.1.el8_0.1; " +
		"a downgrade needs allow-downgrade); ol8-stale-repo: downgrade-refused (glibc 2.28-1.el8 is lower than the installed 2.28-42.0.1.el8_0.1; " +
		"a downgrade needs allow-downgrade)"; code != 400 || body.Error.Message != want {
		t.Errorf("all refused: %d %q, want 400 %q", code, body.Error.Message, want)
	}
}

// errorBody (feeds_admin_test.go) is the API's error answer.

// callRaw sends a request and decodes an error body.
func (ts *testServer) callRaw(t *testing.T, method, path, token, body string) (int, errorBody) {
	t.Helper()
	resp, b := ts.send(t, nil, method, path, token, []byte(body))
	var e errorBody
	json.Unmarshal(b, &e)
	return resp.StatusCode, e
}

// TestAdvisoryChangesPlanOfferedFixesAndRefuseUnknownAdvisories imports the
// real ALSA-2023:5455 (glibc 2.28-225.el8_8.6 for AlmaLinux 8) over the API
// and plans it on AlmaLinux 8 hosts carrying the real EL8 package list: the
// host whose repositories offer the fix is planned, the one whose
// repositories do not is shown as not offered. An unknown advisory or
// package is a 404 that names it.
func TestAdvisoryChangesPlanOfferedFixesAndRefuseUnknownAdvisories(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	feed, err := os.ReadFile("testdata/plan/ALSA-2023-5455.json")
	if err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=alsa&wait=true", tok["admin"], feed, nil); code != 200 {
		t.Fatalf("import: %d", code)
	}
	ol8 := planBases(t)["oraclelinux-8-slim"]
	alma := &inventory.OS{ID: "almalinux", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "8.8", Name: "AlmaLinux"}
	for _, h := range []planHost{
		{hostname: "alma8-offered", updates: []store.Update{{Name: "glibc", Arch: "x86_64", Version: "2.28-225.el8_8.6"}}},
		{hostname: "alma8-newer-offered", updates: []store.Update{{Name: "glibc", Arch: "x86_64", Version: "2.28-236.el8_9.12"}}},
		{hostname: "alma8-not-offered"},
	} {
		h.base, h.os = ol8, alma
		id := addPlanHost(t, ts, clock, h)
		if err := ts.Server.vulns.reconcile(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var v ChangeView
	spec := `{"title":"ALSA-2023:5455","groups":["payments-prod"],"advisories":["ALSA-2023:5455"],"ignore_windows":true}`
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &v); code != 201 {
		t.Fatalf("create: %d", code)
	}
	checkReview(t, v, map[string]reviewLine{
		"alma8-offered":       {"planned", "", "2.28-225.el8_8.6"},
		"alma8-newer-offered": {"planned", "glibc: the repositories offer 2.28-236.el8_9.12, newer than the fix", "2.28-225.el8_8.6"},
		"alma8-not-offered":   {"not-offered", "the repositories do not offer glibc 2.28-225.el8_8.6 (they offer none)", "2.28-225.el8_8.6"},
	})
	if got, want := plannedHosts(v), []string{
		"id-alma8-newer-offered glibc/x86_64=2.28-225.el8_8.6",
		"id-alma8-offered glibc/x86_64=2.28-225.el8_8.6",
	}; !slices.Equal(got, want) {
		t.Errorf("planned %q, want %q", got, want)
	}
	// The console creates through the same plan, with its checkbox, and
	// its change page lists the hosts by name.
	b := consoleBackend{ts.Server}
	id, err := b.CreateChange(ctx, consoleUser("alice", RoleOperator), web.ChangeRequest{Title: "ALSA-2023:5455 forced",
		Advisories: []string{"ALSA-2023:5455"}, Groups: []string{"payments-prod"}, BatchSize: 1, IgnoreWindows: true, ForceNotOffered: true})
	if err != nil {
		t.Fatal(err)
	}
	page, err := b.Change(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, h := range page.Plan.Review {
		rows = append(rows, fmt.Sprintf("%s %s %s %s %s %q", h.Hostname, h.Group, h.Ring, h.Status, strings.Join(h.Targets, ","), h.Reason))
	}
	if want := []string{
		`alma8-newer-offered payments-prod production planned glibc 2.28-225.el8_8.6 "glibc: the repositories offer 2.28-236.el8_9.12, newer than the fix"`,
		`alma8-not-offered payments-prod production planned glibc 2.28-225.el8_8.6 "glibc: forced: the repositories do not offer glibc 2.28-225.el8_8.6 (they offer none)"`,
		`alma8-offered payments-prod production planned glibc 2.28-225.el8_8.6 ""`,
	}; !slices.Equal(rows, want) {
		t.Errorf("the console's review:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if page.HostCount != 3 {
		t.Errorf("the console's change has %d hosts, want 3", page.HostCount)
	}

	for _, tt := range []struct{ spec, want string }{
		{`{"title":"x","groups":["payments-prod"],"advisories":["ALSA-9999:1"]}`,
			"advisory ALSA-9999:1 is not known; import its feed with patchbay feeds import"},
		{`{"title":"x","groups":["payments-prod"],"advisories":["ALSA-2023:5455","ALSA-9999:1"]}`,
			"advisory ALSA-9999:1 is not known; import its feed with patchbay feeds import"},
		{`{"title":"x","groups":["payments-prod"],"packages":[{"name":"glibcc","version":"2.28-225.el8_8.6"}]}`,
			"package glibcc is not installed on any host of groups payments-prod; check its name with patchbay hosts show"},
	} {
		if code, body := ts.callRaw(t, "POST", "/api/v1/changes", tok["alice"], tt.spec); code != 404 || body.Error.Message != tt.want || body.Error.Code != "not_found" {
			t.Errorf("%s: %d %+v, want 404 %q", tt.spec, code, body.Error, tt.want)
		}
	}
}

// TestAHostileArchitectureExcludesOnlyThatHost: of four Ubuntu hosts in
// payments-prod, one reports its openssl package's architecture as
// "amd64 --force-all" and one its machine architecture as "x86_64
// --force-all". The plan leaves both out with the reason; the change is
// approved and run by the real engine step, and the two others are patched
// with valid signed jobs while the hostile hosts get none.
func TestAHostileArchitectureExcludesOnlyThatHost(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock) // host-1, pay-1: Ubuntu 22.04 with openssl 3.0.2-0ubuntu1
	ctx, db := context.Background(), ts.db
	ubuntu := sim.Base{OS: inventory.OS{ID: "ubuntu", VersionID: "22.04"}, Format: inventory.FormatDpkg,
		Packages: []inventory.Package{{Name: "openssl", Version: "3.0.2-0ubuntu1", Arch: "amd64"}}}
	addPlanHost(t, ts, clock, planHost{hostname: "pay-2", base: ubuntu, updates: paymentsUpdates})
	addPlanHost(t, ts, clock, planHost{hostname: "pay-3", base: ubuntu, updates: paymentsUpdates, pkgArch: map[string]string{"openssl": "amd64 --force-all"}})
	addPlanHost(t, ts, clock, planHost{hostname: "pay-4", base: ubuntu, updates: paymentsUpdates, arch: "x86_64 --force-all"})

	var v ChangeView
	spec := `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true,"batch_size":2}`
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &v); code != 201 {
		t.Fatalf("create: %d", code)
	}
	checkReview(t, v, map[string]reviewLine{
		"pay-1": {"planned", "", "3.0.2-0ubuntu1.9"},
		"pay-2": {"planned", "", "3.0.2-0ubuntu1.9"},
		"pay-3": {"excluded", `package architecture "amd64 --force-all" of openssl is not a known architecture`, "3.0.2-0ubuntu1.9"},
		"pay-4": {"excluded", `host architecture "x86_64 --force-all" is not a known architecture`, "3.0.2-0ubuntu1.9"},
	})
	var got ChangeView
	ts.call(t, "GET", "/api/v1/changes/"+v.ID, tok["frank"], nil, &got)
	if fmt.Sprint(got.Review) != fmt.Sprint(v.Review) {
		t.Errorf("the stored review differs from the created one:\n%+v\n%+v", got.Review, v.Review)
	}
	var list struct{ Items []ChangeView }
	ts.call(t, "GET", "/api/v1/changes", tok["frank"], nil, &list)
	if len(list.Items) != 1 || list.Items[0].Review != nil || list.Items[0].Plan.Hosts != nil {
		t.Errorf("the change list carries plans: %+v", list.Items)
	}
	ts.call(t, "POST", "/api/v1/changes/"+v.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+v.ID+"/approve", tok["bob"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+v.ID+"/start", tok["alice"], nil, nil); code != 200 {
		t.Fatalf("start: %d", code)
	}
	patched := map[string]string{}
	for range 10 {
		c, err := db.GetChange(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == ChangeAwaitingSignOff {
			break
		}
		if err := ts.Server.stepChange(ctx, c); err != nil {
			t.Fatalf("engine step: %v", err)
		}
		jobs, err := db.ChangeJobs(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.FinishedAt != nil {
				continue
			}
			var env protocol.Envelope
			if err := json.Unmarshal(j.Envelope, &env); err != nil {
				t.Fatal(err)
			}
			job, err := env.Open(ts.Server.jobKey.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatalf("job for %s does not open: %v", j.HostID, err)
			}
			if err := job.Validate(); err != nil {
				t.Fatalf("job for %s: %v", j.HostID, err)
			}
			installed := map[string]string{}
			for _, p := range job.Packages {
				installed[p.Name+":"+p.Arch] = p.Version
				patched[j.HostID] = fmt.Sprintf("%s %s %s", p.Name, p.Arch, p.Version)
			}
			res, _ := json.Marshal(protocol.JobResult{JobID: j.ID, OK: true, Installed: installed})
			clock.advance(time.Minute)
			if _, err := db.FinishJob(ctx, j.HostID, j.ID, res, clock.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c, _ := db.GetChange(ctx, v.ID); c.State != ChangeAwaitingSignOff {
		t.Errorf("change %s, want %s", c.State, ChangeAwaitingSignOff)
	}
	want := map[string]string{"host-1": "openssl amd64 3.0.2-0ubuntu1.9", "id-pay-2": "openssl amd64 3.0.2-0ubuntu1.9"}
	if fmt.Sprint(patched) != fmt.Sprint(want) {
		t.Errorf("patched %v, want %v", patched, want)
	}
	var st rollout.State
	c, _ := db.GetChange(ctx, v.ID)
	if err := json.Unmarshal(c.Engine, &st); err != nil {
		t.Fatal(err)
	}
	if sum := st.Summary(); sum.Hosts != 2 || sum.Succeeded != 2 || sum.Failed != 0 {
		t.Errorf("summary %+v, want 2 hosts, both succeeded", sum)
	}
}

// TestAHostWhoseDataCannotMakeAValidJobIsExcluded: the plan checks the job
// the engine will sign, so data that passed every other check but the
// protocol's (here a package name with a shell metacharacter) leaves the
// host out instead of failing every engine step.
func TestAHostWhoseDataCannotMakeAValidJobIsExcluded(t *testing.T) {
	h := store.Host{ID: "host-1", Hostname: "web-1"}
	var ph PlanHost
	got := hostDispatch(h, []PlanTarget{{Name: "glibc;reboot", Arch: "x86_64", Version: "2.28-225.el8_8.6", Status: "planned"}}, &ph)
	if got != nil || ph.Status != "excluded" ||
		ph.Reason != `its data cannot make a valid job: packages[0]: name "glibc;reboot" must match [A-Za-z0-9][A-Za-z0-9+._-]{0,254}` {
		t.Errorf("dispatch %v, status %s %q", got, ph.Status, ph.Reason)
	}
	ph = PlanHost{}
	got = hostDispatch(h, []PlanTarget{{Name: "glibc", Arch: "x86_64", Version: "2.28-225.el8_8.6", Status: "planned"},
		{Name: "bash", Arch: "x86_64", Version: "4.4.20-4.el8_6", Status: "not-offered", Reason: "the repositories do not offer bash"}}, &ph)
	if want := []rollout.Target{{Name: "glibc", Arch: "x86_64", Version: "2.28-225.el8_8.6"}}; !slices.Equal(got, want) || ph.Status != "planned" ||
		ph.Reason != "bash not-offered: the repositories do not offer bash" {
		t.Errorf("dispatch %v, status %s %q; want %v planned", got, ph.Status, ph.Reason, want)
	}
}
