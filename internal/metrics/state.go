package metrics

import (
	"cmp"
	"slices"
)

// The state KPIs are needed at every instant of a series (each day's last
// instant, and now). Rather than evaluate every finding at every instant,
// each finding becomes the range of instants at which it is open, found by
// binary search; the ranges go into difference arrays (counts), per-host
// interval unions (coverage, critical systems) and per-segment integrals of
// open priority (risk exposure), whose sums give every instant's KPIs. The
// cost is O(findings × log instants + instants × 90), not findings × days.
// reference_test.go keeps the finding-by-finding definition and checks this
// against it.

// states holds the state KPIs at a strictly increasing list of instants.
type states struct {
	at      []int64 // the instants, in Unix nanoseconds
	regular int     // at[:regular] are exactly a day apart

	// Per instant, from prefix sums of difference arrays.
	open, excepted, held, withSLA, notOverdue, overdue []int
	hostsMissing, hostsHeld, hostsExcepted             []int
	critical, criticalParked                           []int
	hosts                                              int

	risk30, risk30Parked, risk90, risk90Parked []float64
}

// computeStates returns the state KPIs of s at the instants at, which must be
// strictly increasing.
func (s *scope) computeStates(at []int64) *states {
	n := len(at)
	st := &states{at: at, hosts: len(s.hosts)}
	for st.regular < n && at[st.regular]-at[0] == int64(st.regular)*int64(day) {
		st.regular++
	}
	diff := func() []int { return make([]int, n+1) }
	st.open, st.excepted, st.held, st.withSLA, st.notOverdue, st.overdue = diff(), diff(), diff(), diff(), diff(), diff()

	var spans []hostSpan
	for i := range s.facts {
		x := &s.facts[i]
		// Open at at[lo:hi]: firstSeen ≤ t < resolved.
		lo, hi := st.from(x.firstSeen), st.from(x.resolved)
		if lo >= hi {
			continue
		}
		addSpan(st.open, lo, hi)
		if x.excepted {
			addSpan(st.excepted, lo, hi)
		}
		if x.held {
			addSpan(st.held, lo, hi)
		}
		if x.due != never {
			addSpan(st.withSLA, lo, hi)
			od := max(lo, min(hi, st.from(x.due+1))) // overdue from the first instant after due
			addSpan(st.notOverdue, lo, od)
			addSpan(st.overdue, od, hi)
		}
		if x.host < 0 {
			continue
		}
		parked := x.held || x.excepted
		if fix := max(lo, st.from(x.fixAt)); fix < hi {
			if !parked {
				spans = append(spans, hostSpan{x.host, spanMissing, interval{int32(fix), int32(hi)}})
			}
			if x.held {
				spans = append(spans, hostSpan{x.host, spanHeld, interval{int32(fix), int32(hi)}})
			}
			if x.excepted {
				spans = append(spans, hostSpan{x.host, spanExcepted, interval{int32(fix), int32(hi)}})
			}
		}
		if x.criticalSystem {
			spans = append(spans, hostSpan{x.host, spanCritical, interval{int32(lo), int32(hi)}})
			if !parked {
				spans = append(spans, hostSpan{x.host, spanCriticalActive, interval{int32(lo), int32(hi)}})
			}
		}
	}
	for _, d := range [][]int{st.open, st.excepted, st.held, st.withSLA, st.notOverdue, st.overdue} {
		prefixSum(d)
	}
	st.sweepHosts(spans, len(s.hosts))
	st.exposures(s.facts)
	return st
}

// from returns the index of the first instant at or after t: a state that
// begins at t holds from st.at[from(t)] on.
func (st *states) from(t int64) int {
	// The day ends are a day apart: only the rest (now) needs a search.
	if r := st.regular; r > 0 && t <= st.at[r-1] {
		if t <= st.at[0] {
			return 0
		}
		return int((t - st.at[0] + int64(day) - 1) / int64(day))
	}
	i, _ := slices.BinarySearch(st.at[st.regular:], t)
	return st.regular + i
}

// addSpan adds 1 to the instants [lo, hi) of the difference array d.
func addSpan(d []int, lo, hi int) {
	if lo < hi {
		d[lo]++
		d[hi]--
	}
}

func prefixSum(d []int) {
	for i := 1; i < len(d); i++ {
		d[i] += d[i-1]
	}
}

// values returns the state KPIs at instant i.
func (st *states) values(i int) Values {
	v := Values{
		Hosts: st.hosts, HostsMissing: st.hostsMissing[i], HostsHeld: st.hostsHeld[i], HostsExcepted: st.hostsExcepted[i],
		OpenWithSLA: st.withSLA[i], OpenNotOverdue: st.notOverdue[i],
		OpenFindings: st.open[i], OpenExcepted: st.excepted[i], OpenHeld: st.held[i],
		Overdue:           st.overdue[i],
		UnpatchedCritical: st.critical[i], UnpatchedCriticalHeldOrExcepted: st.criticalParked[i],
		RiskExposure30d: st.risk30[i], RiskExposure30dHeldOrExcepted: st.risk30Parked[i],
		RiskExposure90d: st.risk90[i], RiskExposure90dHeldOrExcepted: st.risk90Parked[i],
	}
	v.Coverage = ratio(v.Hosts-v.HostsMissing, v.Hosts)
	v.SLAComplianceOpen = ratio(v.OpenNotOverdue, v.OpenWithSLA)
	return v
}

// overdueByOwner lists the findings overdue at instant t by owner.
func (s *scope) overdueByOwner(t int64) []OwnerCount {
	owners := map[string]*OwnerCount{}
	for i := range s.facts {
		x := &s.facts[i]
		if x.firstSeen > t || x.resolved <= t || x.due == never || t <= x.due {
			continue
		}
		owner := s.findings[x.finding].Owner
		if owner == "" {
			owner = NoOwner
		}
		oc := owners[owner]
		if oc == nil {
			oc = &OwnerCount{Owner: owner}
			owners[owner] = oc
		}
		oc.Overdue++
		if x.excepted {
			oc.Excepted++
		}
		if x.held {
			oc.Held++
		}
	}
	return sortOwners(owners)
}

// interval is the instants [lo, hi).
type interval struct{ lo, hi int32 }

// Kinds of hostSpan: which open findings a host has at the span's instants.
const (
	spanMissing        = iota // a missing update neither held nor excepted
	spanHeld                  // a held missing update
	spanExcepted              // an excepted missing update
	spanCritical              // a critical or KEV finding (on a host of criticality ≥ 4)
	spanCriticalActive        // such a finding neither held nor excepted
	spanKinds
)

type hostSpan struct {
	host int32
	kind uint8
	interval
}

// sweepHosts turns the hosts' spans into per-instant host counts: for each
// host and kind, the union of its spans is the set of instants at which the
// host has such a finding.
func (st *states) sweepHosts(spans []hostSpan, hosts int) {
	n := len(st.at)
	missing, held, excepted, critical, parked := make([]int, n+1), make([]int, n+1), make([]int, n+1), make([]int, n+1), make([]int, n+1)

	// Group the spans by host (a counting sort keeps this linear).
	start := make([]int, hosts+1)
	for _, sp := range spans {
		start[sp.host+1]++
	}
	for h := range hosts {
		start[h+1] += start[h]
	}
	byHost := make([]hostSpan, len(spans))
	next := slices.Clone(start[:hosts])
	for _, sp := range spans {
		byHost[next[sp.host]] = sp
		next[sp.host]++
	}

	var kinds [spanKinds][]interval
	var buf []interval
	add := func(d []int, ivs []interval) {
		for _, iv := range ivs {
			d[iv.lo]++
			d[iv.hi]--
		}
	}
	for h := range hosts {
		for k := range kinds {
			kinds[k] = kinds[k][:0]
		}
		for _, sp := range byHost[start[h]:start[h+1]] {
			kinds[sp.kind] = append(kinds[sp.kind], sp.interval)
		}
		for k := range kinds {
			kinds[k] = union(kinds[k])
		}
		// A host with a missing update is not covered, whatever else it has;
		// held and excepted count only where it is covered.
		add(missing, kinds[spanMissing])
		buf = subtract(buf[:0], kinds[spanHeld], kinds[spanMissing])
		add(held, buf)
		buf = subtract(buf[:0], kinds[spanExcepted], kinds[spanMissing])
		add(excepted, buf)
		add(critical, kinds[spanCritical])
		buf = subtract(buf[:0], kinds[spanCritical], kinds[spanCriticalActive])
		add(parked, buf)
	}
	for _, d := range [][]int{missing, held, excepted, critical, parked} {
		prefixSum(d)
	}
	st.hostsMissing, st.hostsHeld, st.hostsExcepted, st.critical, st.criticalParked = missing, held, excepted, critical, parked
}

// union sorts ivs and merges overlapping or adjacent intervals, in place.
func union(ivs []interval) []interval {
	if len(ivs) < 2 {
		return ivs
	}
	slices.SortFunc(ivs, func(a, b interval) int { return cmp.Compare(a.lo, b.lo) })
	out := ivs[:1]
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if iv.lo <= last.hi {
			last.hi = max(last.hi, iv.hi)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// subtract appends to dst the instants of a that are not in b; a and b are
// sorted, disjoint and non-adjacent, as union returns them.
func subtract(dst, a, b []interval) []interval {
	j := 0
	for _, iv := range a {
		lo := iv.lo
		for j < len(b) && b[j].hi <= lo {
			j++
		}
		for k := j; k < len(b) && b[k].lo < iv.hi; k++ {
			if b[k].lo > lo {
				dst = append(dst, interval{lo, b[k].lo})
			}
			lo = max(lo, b[k].hi)
		}
		if lo < iv.hi {
			dst = append(dst, interval{lo, iv.hi})
		}
	}
	return dst
}
