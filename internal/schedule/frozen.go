package schedule

import "time"

// FrozenAt returns the first of fs in effect at t (from its Start, up to
// but not including its End), and whether there is one.
func FrozenAt(fs []Freeze, t time.Time) (Freeze, bool) {
	for _, f := range fs {
		if !t.Before(f.Start) && t.Before(f.End) {
			return f, true
		}
	}
	return Freeze{}, false
}
