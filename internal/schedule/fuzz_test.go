package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// FuzzWindowValidate feeds arbitrary rules, start times, zones and offsets to
// Validate and Occurrences: they must never panic or hang, must report
// problems as *fielderr.Error, and a window that validates must expand into
// well-formed occurrences.
func FuzzWindowValidate(f *testing.F) {
	for _, s := range []struct {
		rule, start, tz string
		offset          int
	}{
		{"FREQ=MONTHLY;BYDAY=2TU", "22:00", "Europe/Berlin", 3},
		{"FREQ=WEEKLY;BYDAY=SU", "02:30", "America/New_York", 0},
		{"FREQ=DAILY;COUNT=3", "02:30", "Australia/Sydney", -1},
		{"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "23:30", "Asia/Kolkata", 0},
		{"FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231T235959Z", "6:00", "UTC", 0},
		{"FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO", "00:00", "UTC", 0},
		{"FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR", "18:00", "UTC", 0},
		{"FREQ=SOMETIMES", "25:00", "Mars/Olympus", 0},
		{"FREQ=DAILY;INTERVAL=99999999999", "22:00", "UTC", 0},
	} {
		f.Add(s.rule, s.start, s.tz, s.offset)
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rule, start, tz string, offset int) {
		w := Window{Name: "fuzz", RRule: rule, Start: start, TZ: tz, OffsetDays: offset, Duration: 3 * time.Hour, MaxRandomDelay: time.Hour}
		err := w.Validate()
		if err != nil {
			var verr *fielderr.Error
			if !errors.As(err, &verr) || verr.Path == "" {
				t.Fatalf("Validate() = %v, not a *fielderr.Error naming a field", err)
			}
			return
		}
		occs, err := w.Occurrences(from, to)
		if err != nil {
			t.Fatalf("valid window failed to expand: %v", err)
		}
		for i, o := range occs {
			if o.End.Sub(o.Start) != w.Duration || !o.Start.Before(to) || !o.End.After(from) {
				t.Fatalf("bad occurrence %+v", o)
			}
			if i > 0 && !occs[i-1].Start.Before(o.Start) {
				t.Fatalf("occurrences out of order: %+v then %+v", occs[i-1], o)
			}
			if d := HostDelay(w, "h", o); d < 0 || d >= w.MaxRandomDelay {
				t.Fatalf("delay %s out of range", d)
			}
		}
	})
}

// FuzzICSText writes arbitrary text into a feed: it must always parse with an
// independent library as exactly one event with the right UID and times.
func FuzzICSText(f *testing.F) {
	f.Add("CHG-42: glibc, openssl; reboot", "line one\nline two \\ C:\\temp", "ops@example.com")
	f.Add("\r\n\x00\xff", "BEGIN:VEVENT\r\nEND:VCALENDAR", "")
	start := time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, summary, description, owner string) {
		e := CalendarEvent{UID: "u@patchbay", Summary: summary, Description: description, Owner: owner, Kind: KindChange, Start: start, End: start.Add(time.Hour)}
		data, err := ICS("fuzz", []CalendarEvent{e}, start)
		if err != nil {
			t.Fatal(err)
		}
		got := parseICS(t, data)
		if len(got) != 1 || got[0].Uid != e.UID || !got[0].Start.Equal(e.Start) || !got[0].End.Equal(e.End) {
			t.Fatalf("parsed %+v from\n%s", got, data)
		}
	})
}
