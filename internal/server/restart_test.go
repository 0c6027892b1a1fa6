package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// TestRestartServicesPlansAndRunsRebootsAndRestartsTierByTier: in
// payments-prod (reboot if required; tiers replicas, then primary, then the
// rest) a change with reboot restart-services plans a reboot for the
// replica whose kernel is pending, a restart for the primary that only has
// services on old libraries, and nothing for the third host. The engine
// loop then runs one tier at a time, each host's follow-up before the next
// tier starts, and the restart job names no unit.
func TestRestartServicesPlansAndRunsRebootsAndRestartsTierByTier(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	db := ts.db
	addHost := func(id, role string, facts inventory.Facts) {
		t.Helper()
		db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk-" + id, Hash: "h-" + id, Prefix: "p-" + id, ExpiresAt: clock.now().Add(time.Hour),
			CreatedAt: clock.now(), Labels: map[string]string{"app": "payments", "env": "prod", "role": role}})
		if _, err := db.EnrollHost(ctx, "h-"+id, store.Host{ID: id, Hostname: id, CertSerial: "s-" + id, CertNotAfter: clock.now().AddDate(1, 0, 0),
			EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
			t.Fatal(err)
		}
		facts.Hostname, facts.OS, facts.Arch, facts.PackageFormat = id, inventory.OS{ID: "ubuntu", VersionID: "22.04"}, "x86_64", inventory.FormatDpkg
		if _, err := db.ApplyCheckin(ctx, id, store.Checkin{Facts: facts, Full: true,
			Packages: []inventory.Package{{Name: "openssl", Version: "3.0.2-0ubuntu1", Arch: "amd64"}}, Updates: paymentsUpdates}, clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	addHost("db-replica", "replica", inventory.Facts{RebootRequired: true, RebootReasons: []string{"needrestart: a kernel upgrade is pending"},
		ServicesNeedingRestart: []string{"cron.service"}})
	addHost("db-primary", "primary", inventory.Facts{ServicesNeedingRestart: []string{"postgresql@15-main.service", "ssh.service"}})

	spec := `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],
		"batch_size":3,"ignore_windows":true,"reboot":"%s"}`
	var bad ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(fmt.Sprintf(spec, "sometimes")), &bad); code != 400 {
		t.Errorf("an unknown reboot policy: %d, want 400", code)
	}
	var ch ChangeView
	if code := ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(fmt.Sprintf(spec, "restart-services")), &ch); code != 201 {
		t.Fatalf("create: %d", code)
	}
	type after struct {
		tier    int
		reboot  bool
		restart []string
	}
	want := map[string]after{
		"db-replica": {0, true, nil},
		"db-primary": {1, false, []string{"postgresql@15-main.service", "ssh.service"}},
		"host-1":     {2, false, nil},
	}
	if len(ch.Plan.Hosts) != len(want) {
		t.Fatalf("plan hosts %+v", ch.Plan.Hosts)
	}
	for _, h := range ch.Plan.Hosts {
		if w := want[h.HostID]; h.Tier != w.tier || h.NeedsReboot != w.reboot || !slices.Equal(h.RestartOnly, w.restart) {
			t.Errorf("plan for %s: tier %d reboot %v restart %v, want %+v", h.HostID, h.Tier, h.NeedsReboot, h.RestartOnly, w)
		}
	}
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/start", tok["alice"], nil, nil); code != 200 {
		t.Fatalf("start: %d", code)
	}

	done := map[string]bool{}
	// step runs the engine once and returns the jobs it added.
	step := func() []store.Job {
		t.Helper()
		ts.stepOnce(t, ch.ID)
		jobs, _ := db.ChangeJobs(ctx, ch.ID)
		var fresh []store.Job
		for _, j := range jobs {
			if !done[j.ID] && j.Status != "done" {
				fresh = append(fresh, j)
			}
		}
		return fresh
	}
	finish := func(j store.Job) {
		t.Helper()
		res := protocol.JobResult{JobID: j.ID, OK: true}
		if j.Phase == "install" {
			res.Installed = map[string]string{"openssl:amd64": "3.0.2-0ubuntu1.9"}
		}
		b, _ := json.Marshal(res)
		clock.advance(time.Minute)
		if _, err := db.FinishJob(ctx, j.HostID, j.ID, b, clock.now()); err != nil {
			t.Fatal(err)
		}
		done[j.ID] = true
	}
	// One job at a time, in tier order, each host's follow-up before the
	// next tier's install.
	wantSeq := []struct{ host, phase string }{
		{"db-replica", "install"}, {"db-replica", "reboot"},
		{"db-primary", "install"}, {"db-primary", "restart"},
		{"host-1", "install"},
	}
	for _, w := range wantSeq {
		jobs := step()
		if len(jobs) != 1 || jobs[0].HostID != w.host || jobs[0].Phase != w.phase {
			got := []string{}
			for _, j := range jobs {
				got = append(got, j.HostID+"/"+j.Phase)
			}
			t.Fatalf("jobs %v, want only %s/%s", got, w.host, w.phase)
		}
		var env protocol.Envelope
		if err := json.Unmarshal(jobs[0].Envelope, &env); err != nil {
			t.Fatal(err)
		}
		job, err := env.Open(ts.Server.jobKey.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		wantAction := map[string]protocol.Action{"install": protocol.ActionInstall, "reboot": protocol.ActionReboot, "restart": protocol.ActionRestartServices}[w.phase]
		if job.Action != wantAction || job.HostID != w.host {
			t.Errorf("%s/%s job is %s for %s", w.host, w.phase, job.Action, job.HostID)
		}
		if w.phase == "restart" && (job.Name != "" || len(job.Packages) != 0) {
			t.Errorf("the restart job names something: %+v", job)
		}
		finish(jobs[0])
	}
	if jobs := step(); len(jobs) != 0 {
		t.Fatalf("jobs after the last host: %+v", jobs)
	}
	if c, _ := db.GetChange(ctx, ch.ID); c.State != ChangeAwaitingSignOff {
		t.Fatalf("change %s, want %s", c.State, ChangeAwaitingSignOff)
	}
}

func TestAChangeNarrowsOnlyGroupsThatRebootIfRequired(t *testing.T) {
	tests := []struct {
		group, change string
		want          rollout.RebootPolicy
	}{
		{"", "", rollout.RebootIfRequired},
		{"", "restart-services", rollout.RebootRestartServices},
		{"if-required", "restart-services", rollout.RebootRestartServices},
		{"if-required", "if-required", rollout.RebootIfRequired},
		{"restart-services", "", rollout.RebootRestartServices},
		{"never", "restart-services", rollout.RebootNever},
		{"always", "restart-services", rollout.RebootAlways},
	}
	for _, tt := range tests {
		if got := hostRebootPolicy(tt.group, tt.change); got != tt.want {
			t.Errorf("group %q, change %q: %q, want %q", tt.group, tt.change, got, tt.want)
		}
	}
}
