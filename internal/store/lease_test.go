package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLeasesFenceTakeOvers(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		ttl := 30 * time.Second
		if _, err := db.GetLease(ctx, "feed-sync"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lease never taken: %v", err)
		}
		tok, ok, err := db.TakeLease(ctx, "feed-sync", "a", ttl, t0)
		if err != nil || !ok || tok != 1 {
			t.Fatalf("first take: token %d, %v, %v; want 1, true", tok, ok, err)
		}
		// Another holder waits while the lease runs.
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "b", ttl, t0.Add(29*time.Second)); err != nil || ok {
			t.Fatalf("b took a's running lease: token %d, %v, %v", tok, ok, err)
		}
		// The holder renews and keeps its token.
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "a", ttl, t0.Add(20*time.Second)); err != nil || !ok || tok != 1 {
			t.Fatalf("renewal: token %d, %v, %v; want 1, true", tok, ok, err)
		}
		if ok, err := db.ClaimRun(ctx, "feed-sync", 1, time.Hour, t0.Add(20*time.Second)); err != nil || !ok {
			t.Fatalf("first run not claimed: %v, %v", ok, err)
		}
		if ok, err := db.ClaimRun(ctx, "feed-sync", 1, time.Hour, t0.Add(40*time.Second)); err != nil || ok {
			t.Fatalf("second run claimed within the hour: %v, %v", ok, err)
		}
		// a stops renewing (killed): b takes over at expiry, with token 2.
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "b", ttl, t0.Add(50*time.Second)); err != nil || !ok || tok != 2 {
			t.Fatalf("take-over: token %d, %v, %v; want 2, true", tok, ok, err)
		}
		// a's late writes are fenced.
		if ok, err := db.RenewLease(ctx, "feed-sync", "a", 1, ttl, t0.Add(51*time.Second)); err != nil || ok {
			t.Fatalf("a renewed a lease it lost: %v, %v", ok, err)
		}
		if ok, err := db.ClaimRun(ctx, "feed-sync", 1, time.Hour, t0.Add(2*time.Hour)); err != nil || ok {
			t.Fatalf("a claimed a run with a lost token: %v, %v", ok, err)
		}
		// The schedule is the lease's, not the holder's: b waits for the hour.
		if ok, err := db.ClaimRun(ctx, "feed-sync", 2, time.Hour, t0.Add(59*time.Minute)); err != nil || ok {
			t.Fatalf("b claimed a run before the hour: %v, %v", ok, err)
		}
		if ok, err := db.ClaimRun(ctx, "feed-sync", 2, time.Hour, t0.Add(61*time.Minute)); err != nil || !ok {
			t.Fatalf("b's run after the hour not claimed: %v, %v", ok, err)
		}
		// A release lets a take it back at once.
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "b", ttl, t0.Add(61*time.Minute)); err != nil || !ok || tok != 2 {
			t.Fatalf("b's renewal: token %d, %v, %v; want 2, true", tok, ok, err)
		}
		if err := db.ReleaseLease(ctx, "feed-sync", "a"); err != nil { // not a's: nothing happens
			t.Fatal(err)
		}
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "a", ttl, t0.Add(61*time.Minute+10*time.Second)); err != nil || ok {
			t.Fatalf("a took b's lease after releasing its own: token %d, %v, %v", tok, ok, err)
		}
		if err := db.ReleaseLease(ctx, "feed-sync", "b"); err != nil {
			t.Fatal(err)
		}
		if tok, ok, err := db.TakeLease(ctx, "feed-sync", "a", ttl, t0.Add(62*time.Minute)); err != nil || !ok || tok != 3 {
			t.Fatalf("take after release: token %d, %v, %v; want 3, true", tok, ok, err)
		}
		l, err := db.GetLease(ctx, "feed-sync")
		if err != nil || l.Holder != "a" || l.Token != 3 || !l.RanAt.Equal(t0.Add(61*time.Minute)) {
			t.Fatalf("lease %+v, %v", l, err)
		}
		// Leases are independent by name.
		if tok, ok, err := db.TakeLease(ctx, "exception-expiry", "b", ttl, t0.Add(62*time.Minute)); err != nil || !ok || tok != 1 {
			t.Fatalf("other lease: token %d, %v, %v", tok, ok, err)
		}
	})
}

func TestAdvisoryGenerationFollowsWrites(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		g0, err := db.AdvisoryGeneration(ctx)
		if err != nil || g0 != 0 {
			t.Fatalf("generation of an empty database: %d, %v", g0, err)
		}
		adv := func(id, summary string) Advisory {
			return Advisory{ID: id, Source: "osv", Published: t0, Modified: t0, Severity: "high", Summary: summary,
				Data: []byte(`{"id":"` + id + `","summary":"` + summary + `"}`)}
		}
		imp := func(advs ...Advisory) {
			t.Helper()
			if _, err := db.ImportFeed(ctx, FeedImport{Status: FeedStatus{Name: "osv-test", Kind: "osv", Origin: "test"}, Advisories: advs}, t0); err != nil {
				t.Fatal(err)
			}
		}
		imp(adv("A-1", "one"), adv("A-2", "two"))
		g1, _ := db.AdvisoryGeneration(ctx)
		if g1 <= g0 {
			t.Fatalf("generation %d after an import, was %d", g1, g0)
		}
		hs, err := db.AdvisoryHashes(ctx)
		if err != nil || len(hs) != 2 {
			t.Fatalf("hashes %v, %v", hs, err)
		}
		imp(adv("A-1", "one"), adv("A-2", "two, changed"))
		g2, _ := db.AdvisoryGeneration(ctx)
		if g2 <= g1 {
			t.Fatalf("generation %d after a change, was %d", g2, g1)
		}
		hs2, _ := db.AdvisoryHashes(ctx)
		if hs2["A-1"] != hs["A-1"] || hs2["A-2"] == hs["A-2"] {
			t.Fatalf("hashes before %v, after %v: only A-2 changed", hs, hs2)
		}
		var got []string
		err = db.AdvisoryDataOf(ctx, []string{"A-2", "A-9"}, func(id, hash string, data []byte) error {
			got = append(got, id+" "+string(data))
			return nil
		})
		if err != nil || len(got) != 1 || got[0] != `A-2 {"id":"A-2","summary":"two, changed"}` {
			t.Fatalf("data of A-2, A-9: %q, %v", got, err)
		}
	})
}

// Replicas draining the set of hosts to reconcile take different hosts; a
// claimed host comes back when its claim runs out or a check-in marks it.
func TestClaimHostsToReconcile(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollHosts(t, db, 3)
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
		if err := db.MarkHostsToReconcile(ctx, at(0), "h00", "h01", "h02"); err != nil {
			t.Fatal(err)
		}
		claim := func(now time.Time, limit int) string {
			t.Helper()
			ms, err := db.ClaimHostsToReconcile(ctx, now, time.Minute, limit)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, len(ms))
			for i, m := range ms {
				names[i] = m.HostID
			}
			slices.Sort(names)
			return strings.Join(names, " ")
		}
		if got := claim(at(1), 2); got != "h00 h01" {
			t.Fatalf("first replica's claim: %q, want h00 h01", got)
		}
		if got := claim(at(2), 2); got != "h02" {
			t.Fatalf("second replica's claim: %q, want h02", got)
		}
		if got := claim(at(3), 2); got != "" {
			t.Fatalf("third claim: %q, want nothing", got)
		}
		// h01 is marked again while claimed: due at once.
		if err := db.MarkHostsToReconcile(ctx, at(4), "h01"); err != nil {
			t.Fatal(err)
		}
		if got := claim(at(5), 5); got != "h01" {
			t.Fatalf("claim after h01's new mark: %q, want h01", got)
		}
		// The first replica died: its h00 is due when the claim runs out.
		if got := claim(at(60), 5); got != "" {
			t.Fatalf("claim before h00's claim ran out: %q", got)
		}
		if got := claim(at(62), 5); got != "h00 h02" {
			t.Fatalf("claim after the claims ran out: %q, want h00 h02", got)
		}
	})
}
