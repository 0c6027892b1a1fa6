package metrics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// fleet builds a history of hosts × perHost findings spread over the given
// number of days before now, with one patch job per host per 10 days and a
// change per 100 hosts.
func fleet(hosts, perHost, days int, now time.Time) Input {
	rng := rand.New(rand.NewPCG(1, 2))
	start := now.Add(-time.Duration(days) * day)
	span := int64(days) * int64(day)
	when := func() time.Time { return start.Add(time.Duration(rng.Int64N(span))) }
	later := func(t time.Time, max time.Duration) *time.Time {
		u := t.Add(time.Duration(rng.Int64N(int64(max))))
		return &u
	}
	sevs := []string{"critical", "high", "medium", "low", ""}
	var in Input
	for h := range hosts {
		host := Host{ID: fmt.Sprintf("h%05d", h), Team: fmt.Sprintf("t%d", h%10), Group: fmt.Sprintf("g%d", h%50),
			Ring: []string{"test", "pilot", "prod"}[h%3], Criticality: 1 + h%5}
		in.Hosts = append(in.Hosts, host)
		for i := range perHost {
			seen := when()
			fd := Finding{ID: fmt.Sprintf("%s-%d", host.ID, i), HostID: host.ID, Team: host.Team, Group: host.Group,
				Ring: host.Ring, Severity: sevs[rng.IntN(len(sevs))], KEV: rng.IntN(20) == 0, Priority: rng.Float64() * 100,
				Published: seen.Add(-time.Duration(rng.IntN(30)) * day), FirstSeen: seen,
				DueAt: later(seen, 60*day), Held: rng.IntN(50) == 0, Excepted: rng.IntN(50) == 0,
				Owner: fmt.Sprintf("owner%d", h%40)}
			if rng.IntN(4) > 0 {
				fd.FixAvailableAt = later(seen, 10*day)
				if rng.IntN(3) > 0 {
					fd.ResolvedAt = later(*fd.FixAvailableAt, 40*day)
				}
			}
			in.Findings = append(in.Findings, fd)
		}
		for d := 0; d < days; d += 10 {
			fin := when()
			in.Jobs = append(in.Jobs, Job{ChangeID: fmt.Sprintf("c%d-%d", d, h/100), HostID: host.ID,
				Dispatched: fin.Add(-time.Hour), Finished: &fin, OK: rng.IntN(10) > 0, FirstAttempt: true,
				RolledBack: rng.IntN(50) == 0, VerifiedAt: later(fin, 6*time.Hour)})
		}
	}
	for d := 0; d < days; d += 10 {
		for c := range (hosts + 99) / 100 {
			in.Changes = append(in.Changes, Change{ID: fmt.Sprintf("c%d-%d", d, c), Team: fmt.Sprintf("t%d", c%10),
				Completed: later(start.Add(time.Duration(d)*day), 10*day), ProblemsReported: rng.IntN(3)})
		}
	}
	return in
}

// BenchmarkCompute90Days is the brief's target: 10,000 hosts × 20 findings,
// a 90-day daily series, in under 2 s.
func BenchmarkCompute90Days(b *testing.B) { benchCompute(b, 90) }

// BenchmarkCompute365Days is issue 7's figure: a year of history and series.
func BenchmarkCompute365Days(b *testing.B) { benchCompute(b, 365) }

// benchCompute computes the report of 10,000 hosts × 20 findings with the
// given days of history and series.
func benchCompute(b *testing.B, days int) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	in := fleet(10_000, 20, days, now)
	f := Filter{From: now.AddDate(0, 0, -(days - 1)), To: now}
	b.ReportAllocs()
	for b.Loop() {
		Compute(in, f, now)
	}
}

func TestFleetReportIsConsistent(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r := Compute(fleet(200, 20, 90, now), Filter{From: now.AddDate(0, 0, -89), To: now}, now)
	if len(r.Series) != 90 {
		t.Fatalf("%d points, want 90", len(r.Series))
	}
	last := r.Series[len(r.Series)-1].Values
	if last.Coverage == nil || r.Values.Coverage == nil || *last.Coverage != *r.Values.Coverage ||
		last.Overdue != r.Values.Overdue || last.RiskExposure30d != r.Values.RiskExposure30d {
		t.Errorf("today's point differs from the current state")
	}
	var patched, finished int
	for _, p := range r.Series {
		patched += p.Values.HostsPatched
		finished += p.Values.JobsFinished
		for _, rate := range []*float64{p.Values.Coverage, p.Values.SLAComplianceOpen, p.Values.PatchSuccessRate} {
			if rate != nil && (*rate < 0 || *rate > 1) {
				t.Errorf("%s: rate %v out of [0, 1]", p.Date, *rate)
			}
		}
	}
	if patched != r.Values.HostsPatched || finished != r.Values.JobsFinished {
		t.Errorf("series sums %d/%d differ from period totals %d/%d", patched, finished, r.Values.HostsPatched, r.Values.JobsFinished)
	}
}
