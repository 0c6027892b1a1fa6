package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// startsIn returns the UTC start instants of w's occurrences in [from, to).
func startsIn(t *testing.T, w Window, from, to string) []string {
	t.Helper()
	occs, err := w.Occurrences(utc(from), utc(to))
	if err != nil {
		t.Fatalf("Occurrences: %v", err)
	}
	var got []string
	for _, o := range occs {
		if got := o.End.Sub(o.Start); got != w.Duration {
			t.Errorf("occurrence at %s lasts %s, want %s of real time", o.Start, got, w.Duration)
		}
		if o.Window != w.Name || o.Start.Location() != time.UTC || o.End.Location() != time.UTC {
			t.Errorf("occurrence %+v: want window %q and UTC instants", o, w.Name)
		}
		got = append(got, o.Start.Format(time.RFC3339))
	}
	return got
}

// Expected instants below were worked out by hand from the 2026 transitions:
// Berlin 29 Mar 02:00 CET→03:00 CEST and 25 Oct 03:00 CEST→02:00 CET;
// New York 8 Mar 02:00 EST→03:00 EDT and 1 Nov 02:00 EDT→01:00 EST;
// Sydney 5 Apr 03:00 AEDT→02:00 AEST and 4 Oct 02:00 AEST→03:00 AEDT;
// Kolkata stays at +05:30.
func TestOccurrencesKeepLocalTimeAcrossDST(t *testing.T) {
	tests := []struct {
		name     string
		w        Window
		from, to string
		want     []string
	}{
		{
			name: "Berlin 22:00 stays 22:00 local on both sides of spring-forward",
			w:    Window{Name: "nightly", RRule: "FREQ=DAILY", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"},
			from: "2026-03-28T02:00:00Z", to: "2026-03-30T00:00:00Z",
			want: []string{"2026-03-28T21:00:00Z", "2026-03-29T20:00:00Z"},
		},
		{
			name: "Berlin 01:00 on spring-forward night lasts 4h of real time",
			w:    Window{Name: "early", RRule: "FREQ=DAILY", Start: "01:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"},
			from: "2026-03-28T23:30:00Z", to: "2026-03-29T01:00:00Z",
			want: []string{"2026-03-29T00:00:00Z"},
		},
		{
			name: "Berlin 02:30 in the skipped hour moves to 03:30 CEST",
			w:    Window{Name: "gap", RRule: "FREQ=DAILY", Start: "02:30", Duration: time.Hour, TZ: "Europe/Berlin"},
			from: "2026-03-28T00:00:00Z", to: "2026-03-31T00:00:00Z",
			want: []string{"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"},
		},
		{
			name: "Berlin 02:30 on fall-back night is the first, CEST, 02:30",
			w:    Window{Name: "twice", RRule: "FREQ=DAILY", Start: "02:30", Duration: time.Hour, TZ: "Europe/Berlin"},
			from: "2026-10-24T00:00:00Z", to: "2026-10-27T00:00:00Z",
			want: []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		},
		{
			name: "Berlin 22:00 stays 22:00 local on both sides of fall-back",
			w:    Window{Name: "nightly", RRule: "FREQ=DAILY", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"},
			from: "2026-10-24T00:00:00Z", to: "2026-10-26T00:00:00Z",
			want: []string{"2026-10-24T20:00:00Z", "2026-10-25T21:00:00Z"},
		},
		{
			name: "New York weekly Sunday 01:30 across spring-forward",
			w:    Window{Name: "sunday", RRule: "FREQ=WEEKLY;BYDAY=SU", Start: "01:30", Duration: 3 * time.Hour, TZ: "America/New_York"},
			from: "2026-03-01T00:00:00Z", to: "2026-03-16T00:00:00Z",
			want: []string{"2026-03-01T06:30:00Z", "2026-03-08T06:30:00Z", "2026-03-15T05:30:00Z"},
		},
		{
			name: "New York weekly Sunday 01:30 on fall-back is the first, EDT, 01:30",
			w:    Window{Name: "sunday", RRule: "FREQ=WEEKLY;BYDAY=SU", Start: "01:30", Duration: 3 * time.Hour, TZ: "America/New_York"},
			from: "2026-10-25T00:00:00Z", to: "2026-11-09T00:00:00Z",
			want: []string{"2026-10-25T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-08T06:30:00Z"},
		},
		{
			name: "New York 02:15 in the skipped hour moves to 03:15 EDT",
			w:    Window{Name: "gap", RRule: "FREQ=WEEKLY;BYDAY=SU", Start: "02:15", Duration: time.Hour, TZ: "America/New_York"},
			from: "2026-03-08T00:00:00Z", to: "2026-03-09T00:00:00Z",
			want: []string{"2026-03-08T07:15:00Z"},
		},
		{
			name: "Sydney 02:30 when daylight time ends in April is the first, AEDT, 02:30",
			w:    Window{Name: "syd", RRule: "FREQ=DAILY", Start: "02:30", Duration: time.Hour, TZ: "Australia/Sydney"},
			from: "2026-04-03T00:00:00Z", to: "2026-04-06T00:00:00Z",
			want: []string{"2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"},
		},
		{
			name: "Sydney 02:30 in the hour skipped in October moves to 03:30 AEDT",
			w:    Window{Name: "syd", RRule: "FREQ=DAILY", Start: "02:30", Duration: time.Hour, TZ: "Australia/Sydney"},
			from: "2026-10-02T00:00:00Z", to: "2026-10-05T00:00:00Z",
			want: []string{"2026-10-02T16:30:00Z", "2026-10-03T16:30:00Z", "2026-10-04T15:30:00Z"},
		},
		{
			name: "Sydney Saturday 22:00 for 6h spans the October change",
			w:    Window{Name: "sat", RRule: "FREQ=WEEKLY;BYDAY=SA", Start: "22:00", Duration: 6 * time.Hour, TZ: "Australia/Sydney"},
			from: "2026-09-26T18:00:00Z", to: "2026-10-11T00:00:00Z",
			want: []string{"2026-10-03T12:00:00Z", "2026-10-10T11:00:00Z"},
		},
		{
			name: "Kolkata has no DST: monthly 23:30 is 18:00 UTC all year",
			w:    Window{Name: "ist", RRule: "FREQ=MONTHLY;BYMONTHDAY=1", Start: "23:30", Duration: 2 * time.Hour, TZ: "Asia/Kolkata"},
			from: "2026-03-01T00:00:00Z", to: "2026-05-01T00:00:00Z",
			want: []string{"2026-03-01T18:00:00Z", "2026-04-01T18:00:00Z"},
		},
		{
			name: "offset days are added in local calendar days: Saturday rule + 1 day lands on the spring-forward Sunday at 22:00 CEST",
			w:    Window{Name: "sun", RRule: "FREQ=WEEKLY;BYDAY=SA", Start: "22:00", Duration: time.Hour, TZ: "Europe/Berlin", OffsetDays: 1},
			from: "2026-03-21T00:00:00Z", to: "2026-03-31T00:00:00Z",
			want: []string{"2026-03-22T21:00:00Z", "2026-03-29T20:00:00Z"},
		},
		{
			name: "an occurrence already running at from is included",
			w:    Window{Name: "nightly", RRule: "FREQ=DAILY", Start: "22:00", Duration: 4 * time.Hour, TZ: "UTC"},
			from: "2026-05-02T01:00:00Z", to: "2026-05-02T12:00:00Z",
			want: []string{"2026-05-01T22:00:00Z"},
		},
		{
			name: "COUNT counts from the anchor",
			w:    Window{Name: "three", RRule: "FREQ=WEEKLY;BYDAY=MO;COUNT=3", Start: "22:00", Duration: time.Hour, TZ: "UTC", Anchor: date(2026, 1, 1)},
			from: "2025-12-01T00:00:00Z", to: "2026-03-01T00:00:00Z",
			want: []string{"2026-01-05T22:00:00Z", "2026-01-12T22:00:00Z", "2026-01-19T22:00:00Z"},
		},
		{
			name: "a date-only UNTIL includes that day",
			w:    Window{Name: "until", RRule: "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260119", Start: "22:00", Duration: time.Hour, TZ: "Europe/Berlin"},
			from: "2026-01-10T00:00:00Z", to: "2026-03-01T00:00:00Z",
			want: []string{"2026-01-12T21:00:00Z", "2026-01-19T21:00:00Z"},
		},
		{
			name: "a UTC UNTIL is an instant: 21:00Z is 22:00 CET and included",
			w:    Window{Name: "until", RRule: "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260119T210000Z", Start: "22:00", Duration: time.Hour, TZ: "Europe/Berlin"},
			from: "2026-01-10T00:00:00Z", to: "2026-03-01T00:00:00Z",
			want: []string{"2026-01-12T21:00:00Z", "2026-01-19T21:00:00Z"},
		},
		{
			name: "a UTC UNTIL one second earlier excludes it",
			w:    Window{Name: "until", RRule: "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260119T205959Z", Start: "22:00", Duration: time.Hour, TZ: "Europe/Berlin"},
			from: "2026-01-10T00:00:00Z", to: "2026-03-01T00:00:00Z",
			want: []string{"2026-01-12T21:00:00Z"},
		},
		{
			name: "INTERVAL takes its phase from the anchor",
			w:    Window{Name: "fortnight", RRule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", Start: "06:00", Duration: time.Hour, TZ: "UTC", Anchor: date(2026, 1, 5)},
			from: "2026-01-01T00:00:00Z", to: "2026-02-10T00:00:00Z",
			want: []string{"2026-01-06T06:00:00Z", "2026-01-20T06:00:00Z", "2026-02-03T06:00:00Z"},
		},
		{
			name: "last Friday of the month with a negative BYDAY",
			w:    Window{Name: "lastfri", RRule: "FREQ=MONTHLY;BYDAY=-1FR", Start: "18:00", Duration: time.Hour, TZ: "UTC"},
			from: "2026-01-01T00:00:00Z", to: "2026-04-01T00:00:00Z",
			want: []string{"2026-01-30T18:00:00Z", "2026-02-27T18:00:00Z", "2026-03-27T18:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := startsIn(t, tt.w, tt.from, tt.to)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("starts\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSecondTuesdayPlusThreeDaysIn2026(t *testing.T) {
	// Second Tuesdays of 2026 from a calendar: Jan 13, Feb 10, Mar 10, Apr 14,
	// May 12, Jun 9, Jul 14, Aug 11, Sep 8, Oct 13, Nov 10, Dec 8. Three days
	// later is the Friday; 22:00 Berlin is 21:00Z in CET and 20:00Z in CEST.
	patchTuesday := Window{Name: "pt", RRule: "FREQ=MONTHLY;BYDAY=2TU", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"}
	plus3 := patchTuesday
	plus3.OffsetDays = 3
	tests := []struct {
		name string
		w    Window
		want []string
	}{
		{"second Tuesday", patchTuesday, []string{
			"2026-01-13T21:00:00Z", "2026-02-10T21:00:00Z", "2026-03-10T21:00:00Z", "2026-04-14T20:00:00Z",
			"2026-05-12T20:00:00Z", "2026-06-09T20:00:00Z", "2026-07-14T20:00:00Z", "2026-08-11T20:00:00Z",
			"2026-09-08T20:00:00Z", "2026-10-13T20:00:00Z", "2026-11-10T21:00:00Z", "2026-12-08T21:00:00Z",
		}},
		{"second Tuesday + 3 days", plus3, []string{
			"2026-01-16T21:00:00Z", "2026-02-13T21:00:00Z", "2026-03-13T21:00:00Z", "2026-04-17T20:00:00Z",
			"2026-05-15T20:00:00Z", "2026-06-12T20:00:00Z", "2026-07-17T20:00:00Z", "2026-08-14T20:00:00Z",
			"2026-09-11T20:00:00Z", "2026-10-16T20:00:00Z", "2026-11-13T21:00:00Z", "2026-12-11T21:00:00Z",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := startsIn(t, tt.w, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("starts\n got %v\nwant %v", got, tt.want)
			}
			berlin, _ := time.LoadLocation("Europe/Berlin")
			for _, s := range got {
				local := utc(s).In(berlin)
				if local.Hour() != 22 || local.Minute() != 0 {
					t.Errorf("%s is %s local, want 22:00", s, local.Format("15:04"))
				}
				if want := map[bool]time.Weekday{false: time.Tuesday, true: time.Friday}[tt.w.OffsetDays == 3]; local.Weekday() != want {
					t.Errorf("%s is a %s, want %s", s, local.Weekday(), want)
				}
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	ok := Window{Name: "w", RRule: "FREQ=WEEKLY;BYDAY=TU", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin", MaxRandomDelay: time.Hour}
	with := func(f func(*Window)) Window { w := ok; f(&w); return w }
	tests := []struct {
		name      string
		w         Window
		field     string
		msgPrefix string
	}{
		{"a rule with an unknown frequency", with(func(w *Window) { w.RRule = "FREQ=SOMETIMES" }), "rrule", ""},
		{"a rule without FREQ", with(func(w *Window) { w.RRule = "BYDAY=MO" }), "rrule", ""},
		{"a rule that is not key=value", with(func(w *Window) { w.RRule = "every tuesday" }), "rrule", ""},
		{"an empty rule", with(func(w *Window) { w.RRule = "" }), "rrule", "required"},
		{"an hourly rule", with(func(w *Window) { w.RRule = "FREQ=HOURLY" }), "rrule", ""},
		{"a rule with BYHOUR", with(func(w *Window) { w.RRule = "FREQ=DAILY;BYHOUR=3" }), "rrule", ""},
		{"a rule with DTSTART", with(func(w *Window) { w.RRule = "FREQ=DAILY;DTSTART=20260101T000000Z" }), "rrule", ""},
		{"a rule on two lines", with(func(w *Window) { w.RRule = "FREQ=DAILY\nFREQ=WEEKLY" }), "rrule", ""},
		{"a rule that never occurs", with(func(w *Window) { w.RRule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30" }), "rrule", ""},
		{"a rule that ended before its anchor", with(func(w *Window) { w.RRule = "FREQ=DAILY;UNTIL=19991231T000000Z" }), "rrule", ""},
		{"a month day out of range", with(func(w *Window) { w.RRule = "FREQ=MONTHLY;BYMONTHDAY=32" }), "rrule", ""},
		{"a negative COUNT", with(func(w *Window) { w.RRule = "FREQ=DAILY;COUNT=-1" }), "rrule", ""},
		{"a huge INTERVAL", with(func(w *Window) { w.RRule = "FREQ=DAILY;INTERVAL=99999999999" }), "rrule", ""},
		{"an unknown time zone", with(func(w *Window) { w.TZ = "Mars/Olympus" }), "tz", `unknown time zone "Mars/Olympus"`},
		{"no time zone", with(func(w *Window) { w.TZ = "" }), "tz", "required"},
		{"the machine's local zone", with(func(w *Window) { w.TZ = "Local" }), "tz", ""},
		{"a start hour of 25", with(func(w *Window) { w.Start = "25:00" }), "start", ""},
		{"a start without minutes", with(func(w *Window) { w.Start = "22" }), "start", ""},
		{"a start that is not a number", with(func(w *Window) { w.Start = "ab:cd" }), "start", ""},
		{"zero duration", with(func(w *Window) { w.Duration = 0; w.MaxRandomDelay = 0 }), "duration", "must be positive"},
		{"negative duration", with(func(w *Window) { w.Duration = -time.Hour; w.MaxRandomDelay = 0 }), "duration", "must be positive"},
		{"a duration over 7 days", with(func(w *Window) { w.Duration = 8 * 24 * time.Hour }), "duration", ""},
		{"a delay equal to the duration", with(func(w *Window) { w.MaxRandomDelay = w.Duration }), "max_random_delay", ""},
		{"a delay longer than the duration", with(func(w *Window) { w.MaxRandomDelay = 5 * time.Hour }), "max_random_delay", ""},
		{"a negative delay", with(func(w *Window) { w.MaxRandomDelay = -time.Second }), "max_random_delay", ""},
		{"an offset of more than a year", with(func(w *Window) { w.OffsetDays = 400 }), "offset_days", ""},
		{"no name", with(func(w *Window) { w.Name = " " }), "name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			err := tt.w.Validate()
			var verr *fielderr.Error
			if !errors.As(err, &verr) {
				t.Fatalf("Validate() = %v, want a *fielderr.Error", err)
			}
			if verr.Path != tt.field || !strings.HasPrefix(err.Error(), tt.field+": "+tt.msgPrefix) {
				t.Errorf("Validate() = %q (field %q), want field %q and message starting %q", err, verr.Path, tt.field, tt.msgPrefix)
			}
			if _, err := tt.w.Occurrences(utc("2026-01-01T00:00:00Z"), utc("2026-02-01T00:00:00Z")); err == nil {
				t.Errorf("Occurrences accepted an invalid window")
			}
		})
	}

	valid := []struct {
		name string
		w    Window
	}{
		{"the example window", ok},
		{"a rule with COUNT", with(func(w *Window) { w.RRule = "FREQ=MONTHLY;BYDAY=2TU;COUNT=12" })},
		{"a rule with UNTIL", with(func(w *Window) { w.RRule = "FREQ=MONTHLY;BYDAY=2TU;UNTIL=20271231T235959Z" })},
		{"a rule with an RRULE: prefix", with(func(w *Window) { w.RRule = "RRULE:FREQ=DAILY" })},
		{"a leap-day rule", with(func(w *Window) { w.RRule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29" })},
		{"a one-digit hour", with(func(w *Window) { w.Start = "6:30" })},
		{"UTC", with(func(w *Window) { w.TZ = "UTC" })},
		{"no delay", with(func(w *Window) { w.MaxRandomDelay = 0 })},
		{"a negative offset", with(func(w *Window) { w.OffsetDays = -1 })},
		{"seven days exactly", with(func(w *Window) { w.Duration = 7 * 24 * time.Hour })},
	}
	for _, tt := range valid {
		t.Run(tt.name+" is accepted", func(t *testing.T) {
			if err := tt.w.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestOccurrencesRange(t *testing.T) {
	w := Window{Name: "d", RRule: "FREQ=DAILY", Start: "00:00", Duration: time.Hour, TZ: "UTC"}
	if occs, err := w.Occurrences(utc("2026-01-02T00:00:00Z"), utc("2026-01-01T00:00:00Z")); err != nil || len(occs) != 0 {
		t.Errorf("reversed range = %v, %v; want nothing", occs, err)
	}
	_, err := w.Occurrences(utc("2026-01-01T00:00:00Z"), utc("2100-01-01T00:00:00Z"))
	var verr *fielderr.Error
	if !errors.As(err, &verr) || verr.Path != "range" {
		t.Errorf("80-year range: err = %v, want a range error", err)
	}
}
