package rollout

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRollout10k runs a whole rollout of 10,000 hosts in three rings,
// batch 200, every host reporting ok: one op is the whole rollout; hosts/s
// is dispatch plus result handling throughput, ns/host the cost per host.
func BenchmarkRollout10k(b *testing.B) {
	const n = 10000
	p := Plan{
		Rings: []string{"test", "pilot", "prod"}, BatchSize: 200, FailurePercent: 1,
		JobTimeout: time.Hour,
		Windows:    map[string][]Window{},
	}
	for g := range 10 {
		p.Windows[fmt.Sprintf("g%d", g)] = []Window{{t0.Add(-time.Hour), t0.Add(365 * 24 * time.Hour)}}
	}
	for i := range n {
		ring := 2
		if i < 100 {
			ring = 0
		} else if i < 1000 {
			ring = 1
		}
		p.Hosts = append(p.Hosts, HostPlan{
			HostID: fmt.Sprintf("host-%05d", i), Group: fmt.Sprintf("g%d", i%10), Ring: ring, Tier: i % 2,
			Targets: []Target{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1"}},
		})
	}
	installed := map[string]string{"openssl": "3.0.15-1"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := New(p)
		if err != nil {
			b.Fatal(err)
		}
		now := t0
		done := false
		for !done {
			for _, a := range s.Step(now) {
				switch a.Kind {
				case ActDispatch:
					if err := s.HostResult(now, a.HostID, PhaseInstall, true, installed, ""); err != nil {
						b.Fatal(err)
					}
				case ActCompleted:
					done = true
				}
			}
			now = now.Add(time.Minute)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "hosts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/host")
}
