package advisory

import (
	"fmt"
	"slices"

	"github.com/patchbay/patchbay/internal/version"
)

// IsAffected reports whether version v of a.Package is affected, following the
// OSV semantics described in the package documentation. fixed is the version
// that fixes the range containing v, or "" if that range has no fix. err is
// set when v (or, for records not built by this package, an event version)
// cannot be parsed in a.Distro.Format.
func (a Affected) IsAffected(v string) (affected bool, fixed string, err error) {
	eco := a.format()
	if !version.Valid(eco, v) {
		_, err := version.Compare(eco, v, v)
		return false, "", fmt.Errorf("%s %s: %w", a.Ecosystem, a.Package, err)
	}
	for _, r := range a.Ranges {
		if r.Type == RangeGit {
			continue
		}
		in, f, err := inRange(eco, r.Events, v)
		if err != nil {
			return false, "", fmt.Errorf("%s %s: %w", a.Ecosystem, a.Package, err)
		}
		if in {
			if !affected || lower(eco, f, fixed) {
				fixed = f
			}
			affected = true
		}
	}
	if affected {
		return true, fixed, nil
	}
	for _, listed := range a.Versions {
		if listed == v {
			return true, "", nil
		}
		if c, err := version.Compare(eco, listed, v); err == nil && c == 0 {
			return true, "", nil
		}
	}
	return false, "", nil
}

func (a Affected) format() version.Ecosystem {
	if a.Distro.Format != "" {
		return a.Distro.Format
	}
	return version.Generic
}

// eventKind orders events of equal version: introduced first, so that a
// range {introduced X, fixed X} affects nothing.
func eventKind(e Event) int {
	switch {
	case e.Introduced != "":
		return 0
	case e.LastAffected != "":
		return 1
	case e.Fixed != "":
		return 2
	}
	return 3 // limit
}

// inRange evaluates one range for v.
func inRange(eco version.Ecosystem, events []Event, v string) (bool, string, error) {
	sorted := slices.Clone(events)
	var sortErr error
	slices.SortStableFunc(sorted, func(x, y Event) int {
		xv, yv := x.value(), y.value()
		if x.Introduced == "0" || y.Introduced == "0" {
			switch {
			case x.Introduced == "0" && y.Introduced == "0":
				return 0
			case x.Introduced == "0":
				return -1
			default:
				return 1
			}
		}
		c, err := version.Compare(eco, xv, yv)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		if c != 0 {
			return c
		}
		return eventKind(x) - eventKind(y)
	})
	if sortErr != nil {
		return false, "", sortErr
	}

	affected := false
	opened := -1 // index of the introduced event that made v affected
	for i, e := range sorted {
		if e.Introduced == "0" {
			affected, opened = true, i
			continue
		}
		c, err := version.Compare(eco, v, e.value())
		if err != nil {
			return false, "", err
		}
		switch {
		case e.Introduced != "":
			if c >= 0 {
				affected, opened = true, i
			}
		case e.Fixed != "":
			if c >= 0 {
				affected = false
			}
		case e.LastAffected != "":
			if c > 0 {
				affected = false
			}
		case e.Limit != "":
			if c >= 0 {
				return false, "", nil
			}
		}
	}
	if !affected {
		return false, "", nil
	}
	// The fix is the first event after the opening one that closes the
	// range, if it is a fixed event.
	for _, e := range sorted[opened+1:] {
		if e.Fixed != "" {
			return true, e.Fixed, nil
		}
		if e.LastAffected != "" || e.Limit != "" {
			break
		}
	}
	return true, "", nil
}
