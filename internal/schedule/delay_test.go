package schedule

import (
	"fmt"
	"testing"
	"time"
)

func TestHostDelay(t *testing.T) {
	w := Window{Name: "nightly", RRule: "FREQ=DAILY", Start: "22:00", Duration: 4 * time.Hour, TZ: "UTC", MaxRandomDelay: time.Hour}
	occ := Occurrence{Window: w.Name, Start: utc("2026-06-01T22:00:00Z"), End: utc("2026-06-02T02:00:00Z")}

	t.Run("the same host, window and occurrence always get the same delay", func(t *testing.T) {
		if a, b := HostDelay(w, "host-1", occ), HostDelay(w, "host-1", occ); a != b {
			t.Errorf("HostDelay = %s then %s", a, b)
		}
	})

	t.Run("1000 hosts fall in range, in whole seconds, roughly uniformly", func(t *testing.T) {
		const hosts, buckets = 1000, 10
		var counts [buckets]int
		distinct := map[time.Duration]bool{}
		for i := range hosts {
			d := HostDelay(w, fmt.Sprintf("host-%04d", i), occ)
			if d < 0 || d >= w.MaxRandomDelay {
				t.Fatalf("delay %s out of [0, %s)", d, w.MaxRandomDelay)
			}
			if d%time.Second != 0 {
				t.Fatalf("delay %s is not whole seconds", d)
			}
			counts[int(d*buckets/w.MaxRandomDelay)]++
			distinct[d] = true
		}
		// Chi-square with 9 degrees of freedom; 27.88 is the 0.1% critical value.
		var chi2 float64
		for _, c := range counts {
			diff := float64(c) - hosts/buckets
			chi2 += diff * diff / (hosts / buckets)
		}
		if chi2 > 27.88 {
			t.Errorf("delays are not spread evenly: buckets %v, chi-square %.1f", counts, chi2)
		}
		if len(distinct) < 800 {
			t.Errorf("only %d distinct delays for %d hosts", len(distinct), hosts)
		}
	})

	t.Run("another occurrence or window reshuffles the hosts", func(t *testing.T) {
		next := Occurrence{Window: w.Name, Start: occ.Start.AddDate(0, 0, 1), End: occ.End.AddDate(0, 0, 1)}
		other := w
		other.Name = "other"
		same, sameOther := 0, 0
		for i := range 100 {
			host := fmt.Sprintf("host-%d", i)
			if HostDelay(w, host, occ) == HostDelay(w, host, next) {
				same++
			}
			if HostDelay(w, host, occ) == HostDelay(other, host, occ) {
				sameOther++
			}
		}
		if same > 5 || sameOther > 5 {
			t.Errorf("%d/100 hosts kept their delay on the next day and %d/100 in another window", same, sameOther)
		}
	})

	t.Run("no delay configured means no delay", func(t *testing.T) {
		w := w
		w.MaxRandomDelay = 0
		if d := HostDelay(w, "host-1", occ); d != 0 {
			t.Errorf("HostDelay = %s, want 0", d)
		}
	})

	t.Run("a window trimmed shorter than the delay still starts inside itself", func(t *testing.T) {
		short := Occurrence{Window: w.Name, Start: occ.Start, End: occ.Start.Add(10 * time.Minute)}
		for i := range 200 {
			if d := HostDelay(w, fmt.Sprintf("h%d", i), short); d < 0 || d >= 10*time.Minute {
				t.Fatalf("delay %s does not fit the 10m occurrence", d)
			}
		}
	})

	t.Run("sub-second limits use nanoseconds", func(t *testing.T) {
		w := w
		w.MaxRandomDelay = 500 * time.Millisecond
		seen := map[time.Duration]bool{}
		for i := range 50 {
			d := HostDelay(w, fmt.Sprintf("h%d", i), occ)
			if d < 0 || d >= w.MaxRandomDelay {
				t.Fatalf("delay %s out of range", d)
			}
			seen[d] = true
		}
		if len(seen) < 45 {
			t.Errorf("only %d distinct sub-second delays", len(seen))
		}
	})
}
