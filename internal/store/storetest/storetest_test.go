package storetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/store"
)

func TestLoadWritesAFleetTheRealPathsAgreeWith(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	got, err := Load(ctx, db, Fleet{Hosts: 30, PackagesPerHost: 40, FindingsPerHost: 10, Now: now, Seed: 7, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.HostIDs) != 30 || got.Findings != 300 || got.Open < 100 || got.Open > 200 {
		t.Fatalf("loaded %+v", got)
	}
	n, err := db.CountHosts(ctx, store.HostFilter{})
	if err != nil || n != 30 {
		t.Fatalf("hosts %d %v", n, err)
	}
	var findings, open int
	err = db.AllFindings(ctx, func(f store.ReportFinding) error {
		findings++
		if f.ResolvedAt == nil {
			open++
		}
		if f.FirstSeen.Before(now.AddDate(-1, 0, 0)) || f.FirstSeen.After(now) || f.Published.IsZero() {
			t.Errorf("finding outside the history: %+v", f)
		}
		return nil
	})
	if err != nil || findings != got.Findings || open != got.Open {
		t.Fatalf("report rows: %d findings, %d open (%v); loaded %+v", findings, open, err, got)
	}
	// Reconciliation finds nothing to change, and scoring runs over it.
	for _, id := range got.HostIDs[:5] {
		r, err := db.ReconcileFindings(ctx, id, "debian", "12", func(u, fixed string) bool { return u == fixed }, now)
		if err != nil || r != (store.Reconciled{}) {
			t.Fatalf("reconcile %s: %+v %v", id, r, err)
		}
	}
	if _, err := Load(ctx, db, Fleet{Hosts: 1, Now: now}); err == nil {
		t.Fatal("loading bench-00000 twice succeeded")
	}
}
