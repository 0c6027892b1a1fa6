package server

import (
	"fmt"
	"time"

	"github.com/patchbay/patchbay/internal/metrics"
)

// Report periods: dates from reportEarliest to a year from now, a period
// of at most reportMaxDays (the console's limit too). A report's cost
// grows with its days, and dates far outside overflowed the computation.
const reportMaxDays = 731

var reportEarliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// checkReportPeriod refuses a report period out of range, reversed or too
// long, with a message saying which; zero dates are the defaults (to: now,
// from: 30 days before to).
func checkReportPeriod(f metrics.Filter, now time.Time) error {
	latest := now.UTC().AddDate(1, 0, 0)
	for _, d := range []struct {
		name string
		t    time.Time
	}{{"from", f.From}, {"to", f.To}} {
		if !d.t.IsZero() && (d.t.Before(reportEarliest) || d.t.After(latest)) {
			return errBadRequest(fmt.Sprintf("%s %s is out of range: use a date from %s to %s", d.name, d.t.Format(time.DateOnly),
				reportEarliest.Format(time.DateOnly), latest.Format(time.DateOnly)))
		}
	}
	if f.From.IsZero() {
		return nil
	}
	to := f.To
	if to.IsZero() {
		to = now.UTC()
	}
	if f.From.After(to) {
		return errBadRequest(fmt.Sprintf("from %s is after to %s; swap the dates", f.From.Format(time.DateOnly), to.Format(time.DateOnly)))
	}
	if to.Sub(f.From) > reportMaxDays*24*time.Hour {
		return errBadRequest(fmt.Sprintf("the period from %s to %s is longer than %d days; choose a shorter one",
			f.From.Format(time.DateOnly), to.Format(time.DateOnly), reportMaxDays))
	}
	return nil
}
