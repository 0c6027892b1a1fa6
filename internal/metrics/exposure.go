package metrics

import "slices"

// Risk exposure over the window (t − w, t] is the integral over the window
// of the open priority: the sum of the priorities of the findings open at
// each moment, in priority-days. exposures cuts time at every instant and
// every window start into segments, integrates the open priority over each
// segment once, then sums each window's segments.

const (
	window30 = int64(30 * day)
	window90 = int64(90 * day)
)

// segments accumulates the integral of open priority over the segments
// (cuts[m-1], cuts[m]], m ≥ 1.
type segments struct {
	cuts     []int64
	integral []float64 // in priority-days; integral[0] is unused
	// Difference arrays of the priority, and number, of findings open over the
	// whole of a segment; the count lets their prefix sum return to exactly 0.
	whole  []float64
	nWhole []int
}

func newSegments(cuts []int64) *segments {
	n := len(cuts)
	return &segments{cuts: cuts, integral: make([]float64, n), whole: make([]float64, n+1), nWhole: make([]int, n+1)}
}

// add adds priority p over [from, to).
func (g *segments) add(from, to int64, p float64) {
	last := len(g.cuts) - 1
	from, to = max(from, g.cuts[0]), min(to, g.cuts[last])
	if to <= from {
		return
	}
	// The segments holding from and to: cuts[a-1] ≤ from < cuts[a] and
	// cuts[b-1] < to ≤ cuts[b].
	a, found := slices.BinarySearch(g.cuts, from)
	if found {
		a++
	}
	b, _ := slices.BinarySearch(g.cuts, to)
	if a == b {
		g.integral[a] += p * inDays(to-from)
		return
	}
	g.integral[a] += p * inDays(g.cuts[a]-from)
	g.integral[b] += p * inDays(to-g.cuts[b-1])
	if a+1 < b {
		g.whole[a+1] += p
		g.whole[b] -= p
		g.nWhole[a+1]++
		g.nWhole[b]--
	}
}

// finish adds the findings open over whole segments to the integrals.
func (g *segments) finish() {
	var p float64
	var n int
	for m := 1; m < len(g.cuts); m++ {
		p += g.whole[m]
		n += g.nWhole[m]
		if n == 0 {
			p = 0 // not a rounding residue
		}
		if n > 0 {
			g.integral[m] += p * inDays(g.cuts[m]-g.cuts[m-1])
		}
	}
}

// over returns the integral over (cuts[i], cuts[j]].
func (g *segments) over(i, j int) float64 {
	var sum float64
	for _, x := range g.integral[i+1 : j+1] {
		sum += x
	}
	return sum
}

func inDays(ns int64) float64 { return float64(ns) / float64(day) }

// exposures sets the risk exposure KPIs of every instant.
func (st *states) exposures(facts []fact) {
	n := len(st.at)
	st.risk30, st.risk30Parked = make([]float64, n), make([]float64, n)
	st.risk90, st.risk90Parked = make([]float64, n), make([]float64, n)
	if n == 0 {
		return
	}
	cuts := make([]int64, 0, 3*n)
	for _, t := range st.at {
		cuts = append(cuts, t, t-window30, t-window90)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)

	all, parked := newSegments(cuts), newSegments(cuts)
	for i := range facts {
		x := &facts[i]
		all.add(x.firstSeen, x.resolved, x.priority)
		if x.held || x.excepted {
			parked.add(x.firstSeen, x.resolved, x.priority)
		}
	}
	all.finish()
	parked.finish()

	index := func(t int64) int { i, _ := slices.BinarySearch(cuts, t); return i }
	for i, t := range st.at {
		j, j30, j90 := index(t), index(t-window30), index(t-window90)
		st.risk30[i], st.risk30Parked[i] = all.over(j30, j), parked.over(j30, j)
		st.risk90[i], st.risk90Parked[i] = all.over(j90, j), parked.over(j90, j)
	}
}
