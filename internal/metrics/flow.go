package metrics

import (
	"cmp"
	"slices"
	"time"
)

// flow accumulates the event KPIs of a span of days.
type flow struct {
	publishedDays, fixDays         []float64
	closedWithSLA, closedWithinSLA int
	firstAttempts, firstAttemptsOK int
	jobsFinished, jobsRolledBack   int
	verified                       int
	verifyHours                    float64
	hostsPatched                   int
	changesCompleted, problems     int
}

// flows returns one flow per day, each holding the events whose time falls
// in that UTC day and is not after now.
func (s *scope) flows(days []time.Time, now time.Time) []flow {
	fl := make([]flow, len(days))
	if len(days) == 0 {
		return fl
	}
	first := days[0]
	index := func(t time.Time) int {
		if t.After(now) || t.Before(first) {
			return -1
		}
		i := int(t.Sub(first) / day)
		if i >= len(days) {
			return -1
		}
		return i
	}

	for _, x := range s.facts {
		fd := &s.findings[x.finding]
		if fd.ResolvedAt == nil {
			continue
		}
		i := index(*fd.ResolvedAt)
		if i < 0 {
			continue
		}
		res := *fd.ResolvedAt
		if !fd.Published.IsZero() {
			fl[i].publishedDays = append(fl[i].publishedDays, daysBetween(fd.Published, res))
		}
		if fd.FixAvailableAt != nil {
			fl[i].fixDays = append(fl[i].fixDays, daysBetween(*fd.FixAvailableAt, res))
		}
		if fd.DueAt != nil {
			fl[i].closedWithSLA++
			if !res.After(*fd.DueAt) {
				fl[i].closedWithinSLA++
			}
		}
	}

	// Deployment velocity counts distinct hosts per day: the patching jobs'
	// hosts, numbered, are grouped by day and counted once each.
	hostNumber := make(map[string]int32, len(s.hosts))
	var patched []hostDay
	for _, j := range s.jobs {
		if j.Finished == nil {
			continue
		}
		if i := index(*j.Finished); i >= 0 {
			fl[i].jobsFinished++
			if j.RolledBack {
				fl[i].jobsRolledBack++
			}
			if j.FirstAttempt {
				fl[i].firstAttempts++
				if j.OK {
					fl[i].firstAttemptsOK++
				}
			}
			if j.OK && !j.RolledBack {
				h, ok := hostNumber[j.HostID]
				if !ok {
					h = int32(len(hostNumber))
					hostNumber[j.HostID] = h
				}
				patched = append(patched, hostDay{host: h, day: int32(i)})
			}
		}
		if j.VerifiedAt == nil {
			continue
		}
		if i := index(*j.VerifiedAt); i >= 0 {
			fl[i].verified++
			fl[i].verifyHours += max(0, j.VerifiedAt.Sub(*j.Finished).Hours())
		}
	}

	countHostDays(fl, patched, len(hostNumber))

	for _, c := range s.changes {
		if c.Completed == nil {
			continue
		}
		if i := index(*c.Completed); i >= 0 {
			fl[i].changesCompleted++
			fl[i].problems += c.ProblemsReported
		}
	}
	return fl
}

// hostDay is a host, numbered, patched on a day of the series.
type hostDay struct{ host, day int32 }

// countHostDays adds to each day's hostsPatched the number of distinct hosts
// patched that day, in O(len(patched) + hosts + days).
func countHostDays(fl []flow, patched []hostDay, hosts int) {
	start := make([]int, len(fl)+1)
	for _, p := range patched {
		start[p.day+1]++
	}
	for i := range fl {
		start[i+1] += start[i]
	}
	byDay := make([]int32, len(patched))
	next := slices.Clone(start[:len(fl)])
	for _, p := range patched {
		byDay[next[p.day]] = p.host
		next[p.day]++
	}
	seen := make([]int32, hosts) // seen[h] is 1 + the last day h was counted on
	for i := range fl {
		for _, h := range byDay[start[i]:start[i+1]] {
			if seen[h] != int32(i)+1 {
				seen[h] = int32(i) + 1
				fl[i].hostsPatched++
			}
		}
	}
}

// daysBetween is the time from a to b in days; never negative, so a fix
// verified before the advisory was published counts as patched at once.
func daysBetween(a, b time.Time) float64 {
	return max(0, b.Sub(a).Hours()/24)
}

func (f *flow) add(g *flow) {
	f.publishedDays = append(f.publishedDays, g.publishedDays...)
	f.fixDays = append(f.fixDays, g.fixDays...)
	f.closedWithSLA += g.closedWithSLA
	f.closedWithinSLA += g.closedWithinSLA
	f.firstAttempts += g.firstAttempts
	f.firstAttemptsOK += g.firstAttemptsOK
	f.jobsFinished += g.jobsFinished
	f.jobsRolledBack += g.jobsRolledBack
	f.verified += g.verified
	f.verifyHours += g.verifyHours
	f.hostsPatched += g.hostsPatched
	f.changesCompleted += g.changesCompleted
	f.problems += g.problems
}

// fill sets v's event KPIs from f, which spans the given number of days.
func (f *flow) fill(v *Values, days int) {
	v.MTTPPublishedFindings = len(f.publishedDays)
	v.MTTPPublishedMeanDays, v.MTTPPublishedMedianDays = mean(f.publishedDays), median(f.publishedDays)
	v.MTTPFixFindings = len(f.fixDays)
	v.MTTPFixMeanDays, v.MTTPFixMedianDays = mean(f.fixDays), median(f.fixDays)

	v.ClosedWithSLA, v.ClosedWithinSLA = f.closedWithSLA, f.closedWithinSLA
	v.SLAComplianceClosed = ratio(f.closedWithinSLA, f.closedWithSLA)

	v.FirstAttempts, v.FirstAttemptsOK = f.firstAttempts, f.firstAttemptsOK
	v.PatchSuccessRate = ratio(f.firstAttemptsOK, f.firstAttempts)
	v.JobsFinished, v.JobsRolledBack = f.jobsFinished, f.jobsRolledBack
	v.RollbackFrequency = ratio(f.jobsRolledBack, f.jobsFinished)

	v.JobsVerified = f.verified
	if f.verified > 0 {
		h := f.verifyHours / float64(f.verified)
		v.MeanTimeToVerifyHours = &h
	}

	v.HostsPatched, v.Days = f.hostsPatched, days
	v.DeploymentVelocity = ratio(f.hostsPatched, days)

	v.ChangesCompleted, v.ProblemsReported = f.changesCompleted, f.problems
	v.IncidentRate = ratio(f.problems, f.changesCompleted)
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	m := sum / float64(len(xs))
	return &m
}

func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &m
}

func sortOwners(owners map[string]*OwnerCount) []OwnerCount {
	out := make([]OwnerCount, 0, len(owners))
	for _, oc := range owners {
		out = append(out, *oc)
	}
	slices.SortFunc(out, func(a, b OwnerCount) int {
		if c := cmp.Compare(b.Overdue, a.Overdue); c != 0 {
			return c
		}
		return cmp.Compare(a.Owner, b.Owner)
	})
	return out
}
