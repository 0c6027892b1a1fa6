package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// BenchmarkDeltaCheckins runs delta check-ins of 3 upgraded packages from
// 64 hosts at once on SQLite (synchronous=FULL), through the group commit
// (ApplyCheckin) and, for comparison, each in a transaction of its own
// (applyCheckinAlone, the path before group commit). docs/benchmarks.md
// quotes its checkins/s.
func BenchmarkDeltaCheckins(b *testing.B) {
	for _, mode := range []string{"grouped", "alone"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "patchbay.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const hosts, pkgs = 64, 1000
			if err := db.CreateEnrollToken(ctx, EnrollToken{ID: "t", Hash: "h-t", Prefix: "PBE1.t", ExpiresAt: t0.Add(time.Hour), CreatedBy: "u", CreatedAt: t0}); err != nil {
				b.Fatal(err)
			}
			revs := make([]int64, hosts)
			inv := make([][]inventory.Package, hosts)
			for h := range hosts {
				id := fmt.Sprintf("h%02d", h)
				if _, err := db.EnrollHost(ctx, "h-t", newHost(id, id), t0); err != nil {
					b.Fatal(err)
				}
				for p := range pkgs {
					inv[h] = append(inv[h], inventory.Package{Name: "pkg" + strconv.Itoa(p), Version: "1.0-" + strconv.Itoa(h%8), Arch: "amd64"})
				}
				if revs[h], err = db.ApplyCheckin(ctx, id, Checkin{Facts: ubuntuFacts(), Full: true, Packages: inv[h]}, t0); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for h := range hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("h%02d", h)
					for round := 0; next.Add(1) <= int64(b.N); round++ {
						var up []inventory.Package
						for k := range 3 {
							p := &inv[h][(round*3+k)%pkgs]
							p.Version += ".1"
							up = append(up, *p)
						}
						c := Checkin{Facts: ubuntuFacts(), BaseRevision: revs[h], Upserts: up}
						var err error
						if mode == "grouped" {
							revs[h], err = db.ApplyCheckin(ctx, id, c, t0.Add(time.Minute))
						} else {
							revs[h], err = db.applyCheckinAlone(ctx, id, c, t0.Add(time.Minute))
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checkins/s")
		})
	}
}
