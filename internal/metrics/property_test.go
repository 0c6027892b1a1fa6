package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomHistory is a small random history around now. Times fall on a coarse
// grid (whole hours, often exact midnights, now itself, a nanosecond before
// midnight) so that the edge cases the definitions name — resolved or seen
// exactly at an instant, due exactly at it — come up often; some are zero or
// far outside the period, and some findings are resolved before they were seen.
func randomHistory(rng *rand.Rand, now time.Time) Input {
	base := utcDay(now)
	when := func() time.Time {
		switch rng.IntN(12) {
		case 0:
			return now
		case 1:
			return base.AddDate(0, 0, -rng.IntN(130)) // a midnight
		case 2:
			return base.AddDate(0, 0, -rng.IntN(130)).Add(-1) // a day's last instant
		case 3:
			return base.AddDate(0, 0, -rng.IntN(130)).Add(time.Duration(rng.Int64N(int64(day))))
		case 4:
			return now.Add(time.Duration(rng.IntN(72)) * time.Hour) // after now
		}
		return base.Add(-time.Duration(rng.IntN(130*24)) * time.Hour)
	}
	maybe := func(p int) *time.Time {
		if rng.IntN(p) == 0 {
			return nil
		}
		t := when()
		return &t
	}
	teams, groups, rings := []string{"a", "b"}, []string{"g1", "g2", "g3"}, []string{"test", "prod"}
	sevs := []string{"critical", "High", "medium", "low", ""}
	var in Input
	nHosts := rng.IntN(8)
	for h := range nHosts {
		in.Hosts = append(in.Hosts, Host{ID: fmt.Sprintf("h%d", h), Team: teams[rng.IntN(2)], Group: groups[rng.IntN(3)],
			Ring: rings[rng.IntN(2)], Criticality: 1 + rng.IntN(5)})
	}
	for i := range rng.IntN(40) {
		host := Host{ID: "ghost", Team: teams[rng.IntN(2)]} // not enrolled
		if nHosts > 0 && rng.IntN(8) > 0 {
			host = in.Hosts[rng.IntN(nHosts)]
		}
		fd := Finding{ID: fmt.Sprintf("f%d", i), HostID: host.ID, Team: host.Team, Group: host.Group, Ring: host.Ring,
			Severity: sevs[rng.IntN(len(sevs))], KEV: rng.IntN(5) == 0, Priority: float64(rng.IntN(10000)) / 100,
			FixAvailableAt: maybe(3), ResolvedAt: maybe(2), DueAt: maybe(3),
			Held: rng.IntN(4) == 0, Excepted: rng.IntN(4) == 0, Owner: []string{"", "alice", "bob"}[rng.IntN(3)]}
		if rng.IntN(10) > 0 {
			fd.FirstSeen = when() // else zero: open since before any window
		}
		if rng.IntN(3) == 0 && fd.ResolvedAt != nil && fd.ResolvedAt.After(fd.FirstSeen) {
			// Usually resolved after it was seen; shorten some to under a day.
			r := fd.FirstSeen.Add(time.Duration(rng.Int64N(int64(day))))
			fd.ResolvedAt = &r
		}
		in.Findings = append(in.Findings, fd)
	}
	return in
}

func randomFilter(rng *rand.Rand, now time.Time) Filter {
	var f Filter
	switch rng.IntN(4) {
	case 0:
		f.Team = []string{"a", "b"}[rng.IntN(2)]
	case 1:
		f.Ring = "prod"
	case 2:
		f.Severity = []string{"critical", "unknown", "high"}[rng.IntN(3)]
	}
	switch rng.IntN(4) {
	case 0: // the default 30 days up to today
	case 1: // a period that ended before today
		f.To = now.AddDate(0, 0, -rng.IntN(60))
		f.From = f.To.AddDate(0, 0, -rng.IntN(100))
	case 2: // a period running past today
		f.From = now.AddDate(0, 0, -rng.IntN(100))
		f.To = now.AddDate(0, 0, rng.IntN(5))
	case 3: // a period entirely after today: no series at all
		f.From = now.AddDate(0, 0, 1+rng.IntN(3))
		f.To = f.From.AddDate(0, 0, rng.IntN(3))
	}
	return f
}

// TestComputeMatchesReference checks the sweep-based state KPIs against the
// finding-by-finding definition on random histories. Everything must be
// identical except risk exposure, a float sum taken in another order, which
// must agree to 1e-9 (relative) and be exactly 0 where the definition's is.
func TestComputeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 25))
	for i := range 300 {
		now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(day))))
		if rng.IntN(5) == 0 {
			now = utcDay(now) // now exactly at midnight
		}
		in, f := randomHistory(rng, now), randomFilter(rng, now)
		got, want := Compute(in, f, now), referenceCompute(in, f, now)
		if msg := compareReports(got, want); msg != "" {
			raw, _ := json.Marshal(in)
			t.Fatalf("history %d, filter %+v, now %v: %s\ninput: %s", i, f, now, msg, raw)
		}
	}
}

func compareReports(got, want Report) string {
	if len(got.Series) != len(want.Series) {
		return fmt.Sprintf("%d points, want %d", len(got.Series), len(want.Series))
	}
	points := append([]DailyPoint{{Date: "current", Values: got.Values}}, got.Series...)
	wantPoints := append([]DailyPoint{{Date: "current", Values: want.Values}}, want.Series...)
	for i := range points {
		g, w := &points[i].Values, &wantPoints[i].Values
		for _, p := range []struct {
			name string
			g, w *float64
		}{
			{"risk_exposure_30d", &g.RiskExposure30d, &w.RiskExposure30d},
			{"risk_exposure_30d_held_or_excepted", &g.RiskExposure30dHeldOrExcepted, &w.RiskExposure30dHeldOrExcepted},
			{"risk_exposure_90d", &g.RiskExposure90d, &w.RiskExposure90d},
			{"risk_exposure_90d_held_or_excepted", &g.RiskExposure90dHeldOrExcepted, &w.RiskExposure90dHeldOrExcepted},
		} {
			if (*p.w == 0) != (*p.g == 0) || math.Abs(*p.g-*p.w) > 1e-9*math.Max(1, math.Abs(*p.w)) {
				return fmt.Sprintf("%s: %s = %v, want %v", points[i].Date, p.name, *p.g, *p.w)
			}
			*p.g = *p.w
		}
	}
	got.Values, got.Series = points[0].Values, points[1:]
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		return fmt.Sprintf("reports differ:\ngot  %s\nwant %s", g, w)
	}
	return ""
}
