package server

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/store"
)

// A check-in marks its host in the durable set in its own transaction;
// the worker reconciles the marked host (its finding opens) and clears the
// mark. The mark is in the database, not in this process: a server
// started on it later would find it the same way.
func TestReconcileWorkerDrainsTheDurableSet(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	var res importAnswer
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=alma", tok["dave"], almaRecord(t), &res); code != 200 || res.HostsReconciled != 0 {
		t.Fatalf("import: %d %+v", code, res)
	}
	addAlmaHost(t, ts, clock)
	// The store's check-in does not wake the worker (the HTTP handler
	// does); drain the set here, as the worker's next pass would.
	ts.vulns.drainBatch(ctx)
	var fs api.Page[api.Finding]
	ts.call(t, "GET", "/api/v1/hosts/host-9/findings?status=open", tok["frank"], nil, &fs)
	if len(fs.Items) != 1 || fs.Items[0].AdvisoryID != "ALSA-2022:4587" {
		t.Fatalf("open findings after the drain: %+v", fs.Items)
	}
	if n, err := ts.db.CountHostsToReconcile(ctx); err != nil || n != 0 {
		t.Fatalf("marks left after the drain: %d, %v", n, err)
	}
}

// addAlmaHost enrolls host-9 (alma-1, AlmaLinux 9.4) straight in the store
// with pcs 0.11.1-1.el9, which almaRecord's advisory affects.
func addAlmaHost(t *testing.T, ts *testServer, clock *fakeClock) {
	t.Helper()
	ctx := context.Background()
	if _, err := ts.db.EnrollHost(ctx, "h", store.Host{ID: "host-9", Hostname: "alma-1", CertSerial: "s9", CertNotAfter: clock.now().Add(time.Hour),
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	facts := inventory.Facts{Hostname: "alma-1", OS: inventory.OS{ID: "almalinux", VersionID: "9.4"}, PackageFormat: inventory.FormatRPM}
	if _, err := ts.db.ApplyCheckin(ctx, "host-9", store.Checkin{Facts: facts, Full: true, Packages: []inventory.Package{
		{Name: "pcs", Version: "0.11.1-1.el9", Arch: "x86_64"}}}, clock.now()); err != nil {
		t.Fatal(err)
	}
}
