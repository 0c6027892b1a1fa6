package metrics

import (
	"math"
	"strings"
	"time"
)

// never stands for a missing timestamp: an event that has not happened.
const never = math.MaxInt64

// fact is a Finding reduced to what the state KPIs need, with times as Unix
// nanoseconds.
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
