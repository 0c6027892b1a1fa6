package schedule

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// SearchHorizon bounds how far ahead Next looks for open windows.
const SearchHorizon = 2 * 366 * 24 * time.Hour

// Freeze is a blackout period during which no window is open. Which freezes
// apply to a group (global ones and its team's) is the caller's choice.
type Freeze struct {
	Name       string
	Start, End time.Time
	Reason     string
	// Scope is "global" or the name of the team the freeze applies to.
	Scope string
}

// Validate reports the first problem with f as a *fielderr.Error.
func (f Freeze) Validate() error {
	switch {
	case f.Name == "":
		return invalid("name", "required")
	case f.Start.IsZero():
		return invalid("start", "required")
	case f.End.IsZero():
		return invalid("end", "required")
	case !f.End.After(f.Start):
		return invalid("end", "%s must be after start %s", f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339))
	}
	return nil
}

// Next returns up to n open windows that end after from, in order of start
// time, merged across ws, with freezes subtracted. An occurrence already in
// progress at from is included with its real start. An occurrence entirely
// inside a freeze is dropped; one that a freeze covers in part is trimmed to
// the part(s) outside it, so a freeze in the middle of a window splits it in
// two occurrences with the same window name.
//
// Next looks at most SearchHorizon past from; if fewer than n windows open
// in that time it returns the ones it found and no error.
func Next(ws []Window, freezes []Freeze, from time.Time, n int) ([]Occurrence, error) {
	compiled := make([]*compiled, 0, len(ws))
	for _, w := range ws {
		c, err := w.compile()
		if err != nil {
			return nil, fmt.Errorf("window %q: %w", w.Name, err)
		}
		compiled = append(compiled, c)
	}
	fs := slices.Clone(freezes)
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("freeze %q: %w", f.Name, err)
		}
	}
	slices.SortFunc(fs, func(a, b Freeze) int { return a.Start.Compare(b.Start) })
	if n <= 0 || len(compiled) == 0 {
		return nil, nil
	}

	horizon := from.Add(SearchHorizon)
	var found []Occurrence
	step := 32 * 24 * time.Hour
	first := true
	for chunk := from; chunk.Before(horizon); step *= 2 {
		chunkEnd := minTime(chunk.Add(step), horizon)
		for _, c := range compiled {
			occs, err := c.occurrences(chunk, chunkEnd)
			if err != nil {
				return nil, fmt.Errorf("window %q: %w", c.w.Name, err)
			}
			for _, o := range occs {
				// Later chunks take only what starts in them, so an
				// occurrence spanning a chunk boundary counts once.
				if !first && o.Start.Before(chunk) {
					continue
				}
				for _, p := range subtractFreezes(o, fs) {
					if p.End.After(from) {
						found = append(found, p)
					}
				}
			}
		}
		sortOccurrences(found)
		// Anything starting before chunkEnd is final: later occurrences
		// start at or after chunkEnd, and trimming only moves starts later.
		final := 0
		for final < len(found) && found[final].Start.Before(chunkEnd) {
			final++
		}
		if final >= n {
			return found[:n], nil
		}
		chunk, first = chunkEnd, false
	}
	// A piece trimmed past the horizon might not be the earliest one there.
	for i, o := range found {
		if !o.Start.Before(horizon) {
			found = found[:i]
			break
		}
	}
	return found, nil
}

// subtractFreezes returns the parts of o outside every freeze in fs, which
// must be sorted by start.
func subtractFreezes(o Occurrence, fs []Freeze) []Occurrence {
	var out []Occurrence
	cur := o.Start
	for _, f := range fs {
		if !f.Start.Before(o.End) {
			break
		}
		if !f.End.After(cur) {
			continue
		}
		if f.Start.After(cur) {
			out = append(out, Occurrence{Window: o.Window, Start: cur, End: f.Start.UTC()})
		}
		cur = f.End.UTC()
		if !cur.Before(o.End) {
			return out
		}
	}
	return append(out, Occurrence{Window: o.Window, Start: cur, End: o.End})
}

// Overlaps reports, as a *fielderr.Error with field "windows", the first
// pair of occurrences in [from, to) that overlap, whether from two windows
// or from one window whose duration exceeds its recurrence interval. Use it
// for the windows of one group, where overlapping windows are a mistake.
func Overlaps(ws []Window, from, to time.Time) error {
	var all []Occurrence
	for _, w := range ws {
		occs, err := w.Occurrences(from, to)
		if err != nil {
			return fmt.Errorf("window %q: %w", w.Name, err)
		}
		all = append(all, occs...)
	}
	sortOccurrences(all)
	if len(all) == 0 {
		return nil
	}
	// Sorted by start, so if any earlier occurrence overlaps o, the one
	// with the latest end does.
	latest := all[0]
	for _, o := range all[1:] {
		if o.Start.Before(latest.End) {
			if latest.Window == o.Window {
				return invalid("windows", "window %q overlaps itself: the occurrence at %s runs until %s, after the next one starts at %s; shorten its duration",
					o.Window, latest.Start.Format(time.RFC3339), latest.End.Format(time.RFC3339), o.Start.Format(time.RFC3339))
			}
			return invalid("windows", "windows %q and %q overlap: %s–%s and %s–%s; change one of them or merge them",
				latest.Window, o.Window, latest.Start.Format(time.RFC3339), latest.End.Format(time.RFC3339),
				o.Start.Format(time.RFC3339), o.End.Format(time.RFC3339))
		}
		if o.End.After(latest.End) {
			latest = o
		}
	}
	return nil
}

func sortOccurrences(os []Occurrence) {
	slices.SortFunc(os, func(a, b Occurrence) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		return cmp.Compare(a.Window, b.Window)
	})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
