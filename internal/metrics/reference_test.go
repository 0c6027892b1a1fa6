package metrics

import (
	"cmp"
	"slices"
	"time"
)

// referenceCompute is Compute as it was before the state KPIs were computed
// by sweeps: every state KPI of every instant is evaluated finding by finding
// (O(findings × days)). It is kept as the specification the fast path is
// checked against; the event KPIs share Compute's code.
func referenceCompute(in Input, f Filter, now time.Time) Report {
	now = now.UTC()
	f = normalize(f, now)
	s := newScope(in, f)
	facts := slices.Clone(s.facts)
	slices.SortStableFunc(facts, func(a, b fact) int { return cmp.Compare(a.firstSeen, b.firstSeen) })

	var days []time.Time
	for d := f.From; !d.After(f.To) && !d.After(now); d = d.Add(day) {
		days = append(days, d)
	}
	flows := s.flows(days, now)

	r := Report{Generated: now, Filter: f, Series: make([]DailyPoint, len(days))}
	var total flow
	for i, d := range days {
		end := d.Add(day - 1)
		if end.After(now) {
			end = now
		}
		v := referenceSnapshot(s, facts, end.UnixNano(), false)
		flows[i].fill(&v, 1)
		r.Series[i] = DailyPoint{Date: d.Format(time.DateOnly), Values: v}
		total.add(&flows[i])
	}
	r.Values = referenceSnapshot(s, facts, now.UnixNano(), true)
	total.fill(&r.Values, len(days))
	return r
}

// Bits of referenceSnapshot's per-host critical flags.
const (
	criticalAny    = 1 << iota // some qualifying finding is open
	criticalActive             // some qualifying open finding is neither held nor excepted
)

// referenceSnapshot returns the state KPIs at instant t (Unix nanoseconds): a
// finding is open at t when FirstSeen ≤ t < ResolvedAt. facts must be sorted
// by firstSeen.
func referenceSnapshot(s *scope, facts []fact, t int64, byOwner bool) Values {
	var v Values
	n := len(s.hosts)
	missing, held, excepted := make([]bool, n), make([]bool, n), make([]bool, n)
	critical := make([]uint8, n)
	owners := map[string]*OwnerCount{}
	const w30, w90 = int64(30 * day), int64(90 * day)

	for i := range facts {
		x := &facts[i]
		if x.firstSeen > t {
			break // facts are sorted by firstSeen
		}
		if x.resolved > t-w90 {
			parked := x.held || x.excepted
			e90 := referenceExposure(x, t, w90)
			e30 := referenceExposure(x, t, w30)
			v.RiskExposure90d += e90
			v.RiskExposure30d += e30
			if parked {
				v.RiskExposure90dHeldOrExcepted += e90
				v.RiskExposure30dHeldOrExcepted += e30
			}
		}
		if x.resolved <= t {
			continue
		}

		v.OpenFindings++
		if x.excepted {
			v.OpenExcepted++
		}
		if x.held {
			v.OpenHeld++
		}
		if x.due != never {
			v.OpenWithSLA++
			if t > x.due {
				v.Overdue++
				if byOwner {
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
			} else {
				v.OpenNotOverdue++
			}
		}
		if x.host < 0 {
			continue
		}
		if x.fixAt <= t {
			switch {
			case !x.held && !x.excepted:
				missing[x.host] = true
			default:
				held[x.host] = held[x.host] || x.held
				excepted[x.host] = excepted[x.host] || x.excepted
			}
		}
		if x.criticalSystem {
			critical[x.host] |= criticalAny
			if !x.held && !x.excepted {
				critical[x.host] |= criticalActive
			}
		}
	}

	v.Hosts = len(s.hosts)
	for h := range s.hosts {
		if missing[h] {
			v.HostsMissing++
		} else {
			if held[h] {
				v.HostsHeld++
			}
			if excepted[h] {
				v.HostsExcepted++
			}
		}
		if critical[h]&criticalAny != 0 {
			v.UnpatchedCritical++
			if critical[h]&criticalActive == 0 {
				v.UnpatchedCriticalHeldOrExcepted++
			}
		}
	}
	v.Coverage = ratio(v.Hosts-v.HostsMissing, v.Hosts)
	v.SLAComplianceOpen = ratio(v.OpenNotOverdue, v.OpenWithSLA)

	if byOwner {
		v.OverdueByOwner = sortOwners(owners)
	}
	return v
}

// referenceExposure is priority × the days x was open within the window (t-w, t].
func referenceExposure(x *fact, t, w int64) float64 {
	start, end := max(x.firstSeen, t-w), min(x.resolved, t)
	if end <= start {
		return 0
	}
	return x.priority * float64(end-start) / float64(day)
}
