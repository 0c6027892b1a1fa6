package metrics

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// never stands for a missing timestamp: an event that has not happened.
const never = math.MaxInt64

// fact is a Finding reduced to what the state KPIs need, with times as Unix
// nanoseconds, so that evaluating every finding on every day stays cheap.
type fact struct {
	firstSeen, resolved, fixAt, due int64
	priority                        float64
	host                            int32 // index into scope.hosts; -1 if out of scope or unknown
	criticalSystem                  bool  // critical or KEV, on a host of criticality ≥ 4
	held, excepted                  bool
	finding                         int32 // index into scope.findings, the caller's slice
}

// scope is the part of the input a filter selects.
type scope struct {
	hosts    []Host
	findings []Finding // all of Input.Findings; facts selects from it
	facts    []fact
	jobs     []Job
	changes  []Change

	// Per-host scratch space for snapshot, reused from day to day.
	missing, held, excepted []bool
	critical                []uint8
}

func newScope(in Input, f Filter) *scope {
	s := &scope{findings: in.Findings, facts: make([]fact, 0, len(in.Findings))}
	hostIndex := make(map[string]int32)
	for _, h := range in.Hosts {
		if matches(f.Team, h.Team) && matches(f.Group, h.Group) && matches(f.Ring, h.Ring) {
			hostIndex[h.ID] = int32(len(s.hosts))
			s.hosts = append(s.hosts, h)
		}
	}
	for i := range in.Findings {
		fd := &in.Findings[i]
		if !matches(f.Team, fd.Team) || !matches(f.Group, fd.Group) || !matches(f.Ring, fd.Ring) ||
			!severityMatches(f.Severity, fd.Severity) {
			continue
		}
		h, ok := hostIndex[fd.HostID]
		if !ok {
			h = -1
		}
		sev := strings.ToLower(fd.Severity)
		s.facts = append(s.facts, fact{
			firstSeen:      unixNanos(fd.FirstSeen),
			resolved:       nanos(fd.ResolvedAt),
			fixAt:          nanos(fd.FixAvailableAt),
			due:            nanos(fd.DueAt),
			priority:       fd.Priority,
			host:           h,
			criticalSystem: h >= 0 && s.hosts[h].Criticality >= 4 && (sev == "critical" || fd.KEV),
			held:           fd.Held,
			excepted:       fd.Excepted,
			finding:        int32(i),
		})
	}

	// Sorted by first sighting, a snapshot can stop at the first finding not
	// yet seen.
	slices.SortFunc(s.facts, func(a, b fact) int { return cmp.Compare(a.firstSeen, b.firstSeen) })

	// Jobs and changes have no severity; the host filters reach them through
	// the job's host and the change's jobs.
	hostFiltered := f.Team != "" || f.Group != "" || f.Ring != ""
	changeHasJob := make(map[string]bool)
	byJobs := f.Group != "" || f.Ring != ""
	if !hostFiltered {
		s.jobs = in.Jobs
	}
	for _, j := range in.Jobs {
		if _, ok := hostIndex[j.HostID]; hostFiltered && !ok {
			continue
		}
		if hostFiltered {
			s.jobs = append(s.jobs, j)
		}
		if byJobs {
			changeHasJob[j.ChangeID] = true
		}
	}
	for _, c := range in.Changes {
		if !matches(f.Team, c.Team) || byJobs && !changeHasJob[c.ID] {
			continue
		}
		s.changes = append(s.changes, c)
	}

	n := len(s.hosts)
	s.missing, s.held, s.excepted = make([]bool, n), make([]bool, n), make([]bool, n)
	s.critical = make([]uint8, n)
	return s
}

func matches(want, got string) bool { return want == "" || want == got }

func severityMatches(want, got string) bool {
	got = strings.ToLower(got)
	switch want {
	case "":
		return true
	case "unknown":
		return got == ""
	}
	return want == got
}

// nanos returns t in Unix nanoseconds, or never for nil.
func nanos(t *time.Time) int64 {
	if t == nil {
		return never
	}
	return unixNanos(*t)
}

// Times outside the range of Unix nanoseconds (years 1678 to 2262), such as
// the zero time, are clamped to its ends rather than wrapping around.
var minNanos, maxNanos = time.Unix(0, math.MinInt64+1), time.Unix(0, never-1)

func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64 + 1
	case t.After(maxNanos):
		return never - 1
	}
	return t.UnixNano()
}

// Bits of scope.critical.
const (
	criticalAny    = 1 << iota // some qualifying finding is open
	criticalActive             // some qualifying open finding is neither held nor excepted
)

// snapshot returns the state KPIs at instant t (Unix nanoseconds): a finding
// is open at t when FirstSeen ≤ t < ResolvedAt.
func (s *scope) snapshot(t int64, byOwner bool) Values {
	var v Values
	clear(s.missing)
	clear(s.held)
	clear(s.excepted)
	clear(s.critical)
	owners := map[string]*OwnerCount{}
	const w30, w90 = int64(30 * day), int64(90 * day)

	for i := range s.facts {
		x := &s.facts[i]
		if x.firstSeen > t {
			break // facts are sorted by firstSeen
		}
		if x.resolved > t-w90 {
			parked := x.held || x.excepted
			e90 := exposure(x, t, w90)
			e30 := exposure(x, t, w30)
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
				s.missing[x.host] = true
			default:
				s.held[x.host] = s.held[x.host] || x.held
				s.excepted[x.host] = s.excepted[x.host] || x.excepted
			}
		}
		if x.criticalSystem {
			s.critical[x.host] |= criticalAny
			if !x.held && !x.excepted {
				s.critical[x.host] |= criticalActive
			}
		}
	}

	v.Hosts = len(s.hosts)
	for h := range s.hosts {
		if s.missing[h] {
			v.HostsMissing++
		} else {
			if s.held[h] {
				v.HostsHeld++
			}
			if s.excepted[h] {
				v.HostsExcepted++
			}
		}
		if s.critical[h]&criticalAny != 0 {
			v.UnpatchedCritical++
			if s.critical[h]&criticalActive == 0 {
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

// exposure is priority × the days x was open within the window (t-w, t].
func exposure(x *fact, t, w int64) float64 {
	start, end := max(x.firstSeen, t-w), min(x.resolved, t)
	if end <= start {
		return 0
	}
	return x.priority * float64(end-start) / float64(day)
}
