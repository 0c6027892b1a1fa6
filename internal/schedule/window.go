package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// Limits on a Window. They keep expansion cheap and catch typos early.
const (
	MaxDuration   = 7 * 24 * time.Hour
	MaxOffsetDays = 366
	MaxInterval   = 1000
	// MaxRange is the longest span Occurrences expands in one call.
	MaxRange = 20 * 366 * 24 * time.Hour
	// nonEmptyYears is how far past the anchor a rule must first occur to be
	// accepted; a rule that never occurs is an "empty window".
	nonEmptyYears = 10
)

// DefaultAnchor is the date a recurrence counts from when Window.Anchor is
// zero: Monday 3 January 2000. It fixes the phase of rules such as
// "FREQ=WEEKLY;INTERVAL=2" and the start of COUNT; set Anchor when those matter.
var DefaultAnchor = time.Date(2000, time.January, 3, 0, 0, 0, 0, time.UTC)

// Window is a recurring maintenance window of one group.
//
// Occurrence k starts at the local wall-clock time Start on the k-th date of
// RRule (counted from Anchor) shifted by OffsetDays calendar days, in TZ, and
// lasts Duration of real elapsed time.
//
// Daylight-saving changes: a start time that falls in the hour skipped by a
// spring-forward change is moved forward by the length of the gap (02:30 on
// the night Berlin jumps from 02:00 CET to 03:00 CEST starts at 03:30 CEST),
// as RFC 5545 section 3.3.5 prescribes; a start time that occurs twice on a
// fall-back night uses the first (daylight-time) occurrence. The end is always
// start + Duration in real time, so a 4h window starting at 01:00 on a
// spring-forward night ends at 06:00 local time, and one on a fall-back night
// ends at 04:00.
type Window struct {
	// Name identifies the window in results, errors and calendar events.
	Name string
	// RRule is an RFC 5545 RRULE value without DTSTART, e.g.
	// "FREQ=MONTHLY;BYDAY=2TU". FREQ must be DAILY, WEEKLY, MONTHLY or
	// YEARLY; BYHOUR, BYMINUTE, BYSECOND and BYEASTER are not allowed (Start
	// gives the time of day). UNTIL with a trailing Z is an instant; without
	// it, it is wall-clock time in TZ, and a date-only UNTIL includes that
	// whole day. UNTIL and COUNT bound the rule's own dates, before
	// OffsetDays is applied.
	RRule string
	// Start is the local wall-clock start time "HH:MM" in TZ.
	Start string
	// Anchor is the first date the rule counts from (its DTSTART date). Only
	// its calendar date as written (in its own location) is used. Zero means
	// DefaultAnchor.
	Anchor time.Time
	// Duration is the real elapsed length of each occurrence: > 0 and at
	// most MaxDuration.
	Duration time.Duration
	// TZ is an IANA time zone name such as "Europe/Berlin" or "UTC".
	TZ string
	// OffsetDays shifts every occurrence by whole calendar days, keeping the
	// wall-clock start: "second Tuesday + 3 days" is RRule
	// "FREQ=MONTHLY;BYDAY=2TU" with OffsetDays 3.
	OffsetDays int
	// MaxRandomDelay spreads hosts over the window: each host starts
	// HostDelay after the occurrence start, in [0, MaxRandomDelay). It must
	// be shorter than Duration.
	MaxRandomDelay time.Duration
}

// Occurrence is one concrete opening of a window, in UTC.
type Occurrence struct {
	Window     string
	Start, End time.Time
}

// invalid reports a problem with the input field named as written in
// policy files ("rrule", "tz", "duration", ...).
func invalid(field, format string, args ...any) error {
	return fielderr.Errorf(field, format, args...)
}

// Validate reports the first problem with w, as a *fielderr.Error naming
// the field. A rule that never occurs within ten years of its anchor (for
// example "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30") is an error.
func (w Window) Validate() error {
	_, err := w.compile()
	return err
}

// compiled is a validated Window ready for expansion. The rule works on
// "wall clock as UTC" values: local dates and times stored in a UTC
// time.Time, so the expansion never sees a DST change; localize turns them
// into instants afterwards.
type compiled struct {
	w    Window
	loc  *time.Location
	rule *rrule.RRule
}

func (w Window) compile() (*compiled, error) {
	if strings.TrimSpace(w.Name) == "" {
		return nil, invalid("name", "required")
	}
	loc, err := loadTZ(w.TZ)
	if err != nil {
		return nil, err
	}
	hour, minute, err := parseClock(w.Start)
	if err != nil {
		return nil, err
	}
	if w.Duration <= 0 {
		return nil, invalid("duration", "must be positive, got %s", w.Duration)
	}
	if w.Duration > MaxDuration {
		return nil, invalid("duration", "must be at most %s (7 days), got %s", MaxDuration, w.Duration)
	}
	if w.MaxRandomDelay < 0 {
		return nil, invalid("max_random_delay", "must not be negative, got %s", w.MaxRandomDelay)
	}
	if w.MaxRandomDelay >= w.Duration {
		return nil, invalid("max_random_delay", "must be shorter than the duration %s, got %s", w.Duration, w.MaxRandomDelay)
	}
	if w.OffsetDays < -MaxOffsetDays || w.OffsetDays > MaxOffsetDays {
		return nil, invalid("offset_days", "must be between %d and %d, got %d", -MaxOffsetDays, MaxOffsetDays, w.OffsetDays)
	}
	anchor := DefaultAnchor
	if !w.Anchor.IsZero() {
		y, m, d := w.Anchor.Date()
		anchor = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	dtstart := anchor.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	rule, err := parseRule(w.RRule, dtstart, loc)
	if err != nil {
		return nil, err
	}
	first := rule.After(dtstart, true)
	if first.IsZero() || first.After(dtstart.AddDate(nonEmptyYears, 0, 0)) {
		return nil, invalid("rrule", "%q never occurs in the %d years from the anchor date %s; check BYMONTH, BYMONTHDAY, BYDAY, UNTIL and COUNT",
			w.RRule, nonEmptyYears, anchor.Format(time.DateOnly))
	}
	return &compiled{w: w, loc: loc, rule: rule}, nil
}

func loadTZ(name string) (*time.Location, error) {
	if name == "" {
		return nil, invalid("tz", "required; use an IANA name such as \"Europe/Berlin\" or \"UTC\"")
	}
	// "Local" depends on the machine that runs the server; never accept it.
	if name == "Local" {
		return nil, invalid("tz", "\"Local\" is not allowed; use an IANA name such as \"Europe/Berlin\"")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("tz", "unknown time zone %q; use an IANA name such as \"Europe/Berlin\"", name)
	}
	return loc, nil
}

// parseClock parses "HH:MM" (hour may be one digit) into its parts.
func parseClock(s string) (hour, minute int, err error) {
	bad := invalid("start", "%q is not a time of day; write HH:MM, e.g. \"22:00\"", s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, 0, bad
	}
	hour, _ = strconv.Atoi(h)
	minute, _ = strconv.Atoi(m)
	if hour > 23 || minute > 59 {
		return 0, 0, bad
	}
	return hour, minute, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// parseRule parses an RRULE body into a rule over wall-clock-as-UTC values
// starting at dtstart.
func parseRule(body string, dtstart time.Time, loc *time.Location) (*rrule.RRule, error) {
	bad := func(format string, args ...any) error {
		return invalid("rrule", "%q: %s; write an RFC 5545 rule such as \"FREQ=MONTHLY;BYDAY=2TU\"", body, fmt.Sprintf(format, args...))
	}
	s := strings.TrimPrefix(strings.TrimSpace(body), "RRULE:")
	if s == "" {
		return nil, invalid("rrule", "required; write an RFC 5545 rule such as \"FREQ=MONTHLY;BYDAY=2TU\"")
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, bad("must be a single line")
	}
	var untilRaw string
	for _, part := range strings.Split(s, ";") {
		key, value, _ := strings.Cut(part, "=")
		switch strings.ToUpper(key) {
		case "DTSTART":
			return nil, bad("DTSTART is not allowed; set the window's start and anchor instead")
		case "BYHOUR", "BYMINUTE", "BYSECOND":
			return nil, bad("%s is not allowed; set the window's start time instead", key)
		case "BYEASTER":
			return nil, bad("BYEASTER is not part of RFC 5545")
		case "UNTIL":
			untilRaw = value
		}
	}
	opt, err := rrule.StrToROptionInLocation(s, time.UTC)
	if err != nil {
		return nil, bad("%v", err)
	}
	switch opt.Freq {
	case rrule.YEARLY, rrule.MONTHLY, rrule.WEEKLY, rrule.DAILY:
	default:
		return nil, bad("FREQ=%s is not supported; a maintenance window recurs at most daily", opt.Freq)
	}
	if opt.Count < 0 {
		return nil, bad("COUNT must not be negative")
	}
	if opt.Interval < 0 || opt.Interval > MaxInterval {
		return nil, bad("INTERVAL must be between 1 and %d", MaxInterval)
	}
	if untilRaw != "" {
		switch {
		case strings.HasSuffix(untilRaw, "Z"):
			// An instant: compare it with wall-clock values in loc.
			opt.Until = wallOf(opt.Until.In(loc))
		case len(untilRaw) == len(rrule.DateFormat):
			// A date includes the whole day.
			opt.Until = opt.Until.Add(24*time.Hour - time.Second)
		}
	}
	opt.Dtstart = dtstart
	rule, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, bad("%v", err)
	}
	return rule, nil
}

// wallOf returns t's wall clock in its location as a UTC value.
func wallOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// localize returns the instant at which the wall clock in loc shows wall (a
// wall-clock-as-UTC value). A time skipped by a DST gap is read with the
// offset in force before the gap, which moves it forward by the gap's length;
// a time that occurs twice resolves to the earlier instant (RFC 5545 3.3.5).
func localize(wall time.Time, loc *time.Location) time.Time {
	// Time zone offsets are within ±26h and transitions are never closer than
	// a day apart, so the offsets a day either side cover both candidates.
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	early := wall.Add(-time.Duration(before) * time.Second)
	late := wall.Add(-time.Duration(after) * time.Second)
	if late.Before(early) {
		early, late = late, early
	}
	switch {
	case wallOf(early.In(loc)).Equal(wall):
		return early
	case wallOf(late.In(loc)).Equal(wall):
		return late
	default: // in a gap
		return wall.Add(-time.Duration(before) * time.Second)
	}
}

// Occurrences returns the occurrences of w that overlap [from, to), in
// order, with UTC instants. It returns an error if w is invalid or the range
// is longer than MaxRange.
func (w Window) Occurrences(from, to time.Time) ([]Occurrence, error) {
	c, err := w.compile()
	if err != nil {
		return nil, err
	}
	return c.occurrences(from, to)
}

func (c *compiled) occurrences(from, to time.Time) ([]Occurrence, error) {
	if !to.After(from) {
		return nil, nil
	}
	if to.Sub(from) > MaxRange {
		return nil, invalid("range", "%s to %s is longer than %d days", from.Format(time.RFC3339), to.Format(time.RFC3339), MaxRange/(24*time.Hour))
	}
	// Rule dates whose occurrence could overlap [from, to): widen by the
	// duration, the offset and a day for the zone's UTC offset.
	day := 24 * time.Hour
	lo := wallOf(from.In(c.loc)).Add(-c.w.Duration-day).AddDate(0, 0, -c.w.OffsetDays)
	hi := wallOf(to.In(c.loc)).Add(day).AddDate(0, 0, -c.w.OffsetDays)
	var out []Occurrence
	for _, date := range c.rule.Between(lo, hi, true) {
		start := localize(date.AddDate(0, 0, c.w.OffsetDays), c.loc)
		end := start.Add(c.w.Duration)
		if start.Before(to) && end.After(from) {
			out = append(out, Occurrence{Window: c.w.Name, Start: start.UTC(), End: end.UTC()})
		}
	}
	return out, nil
}
