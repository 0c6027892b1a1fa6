package schedule

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

func render(occs []Occurrence) string {
	var b strings.Builder
	for _, o := range occs {
		fmt.Fprintf(&b, "%s %s-%s\n", o.Window, o.Start.Format(time.RFC3339), o.End.Format(time.RFC3339))
	}
	return b.String()
}

func TestNext(t *testing.T) {
	berlinTue := Window{Name: "tue", RRule: "FREQ=WEEKLY;BYDAY=TU", Start: "22:00", Duration: 2 * time.Hour, TZ: "Europe/Berlin"}
	nyPatchFriday := Window{Name: "pt+3", RRule: "FREQ=MONTHLY;BYDAY=2TU", OffsetDays: 3, Start: "20:00", Duration: 4 * time.Hour, TZ: "America/New_York"}
	nightly := Window{Name: "nightly", RRule: "FREQ=DAILY", Start: "22:00", Duration: 4 * time.Hour, TZ: "UTC"}
	yearly := Window{Name: "newyear", RRule: "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1", Start: "00:00", Duration: time.Hour, TZ: "UTC"}
	once := Window{Name: "once", RRule: "FREQ=DAILY;COUNT=1", Anchor: date(2026, 5, 1), Start: "10:00", Duration: time.Hour, TZ: "UTC"}
	freeze := func(start, end string) Freeze {
		return Freeze{Name: "f", Start: utc(start), End: utc(end), Reason: "year-end", Scope: "global"}
	}

	tests := []struct {
		name    string
		ws      []Window
		freezes []Freeze
		from    string
		n       int
		want    string
	}{
		{
			name: "windows of several zones are merged in start order",
			ws:   []Window{berlinTue, nyPatchFriday},
			from: "2026-03-01T00:00:00Z", n: 5,
			// Friday 13 March 20:00 EDT (after New York's change on 8 March)
			// is 14 March 00:00Z; Berlin is still on CET until 29 March.
			want: "tue 2026-03-03T21:00:00Z-2026-03-03T23:00:00Z\n" +
				"tue 2026-03-10T21:00:00Z-2026-03-10T23:00:00Z\n" +
				"pt+3 2026-03-14T00:00:00Z-2026-03-14T04:00:00Z\n" +
				"tue 2026-03-17T21:00:00Z-2026-03-17T23:00:00Z\n" +
				"tue 2026-03-24T21:00:00Z-2026-03-24T23:00:00Z\n",
		},
		{
			name: "a window in progress at from is returned with its real start",
			ws:   []Window{nightly},
			from: "2026-05-02T01:00:00Z", n: 2,
			want: "nightly 2026-05-01T22:00:00Z-2026-05-02T02:00:00Z\n" +
				"nightly 2026-05-02T22:00:00Z-2026-05-03T02:00:00Z\n",
		},
		{
			name:    "a freeze covering whole windows drops them",
			ws:      []Window{nightly},
			freezes: []Freeze{freeze("2026-12-19T21:00:00Z", "2027-01-04T03:00:00Z")},
			from:    "2026-12-18T12:00:00Z", n: 3,
			want: "nightly 2026-12-18T22:00:00Z-2026-12-19T02:00:00Z\n" +
				"nightly 2027-01-04T22:00:00Z-2027-01-05T02:00:00Z\n" +
				"nightly 2027-01-05T22:00:00Z-2027-01-06T02:00:00Z\n",
		},
		{
			name:    "a freeze over the start trims the window to its open end",
			ws:      []Window{nightly},
			freezes: []Freeze{freeze("2026-06-01T20:00:00Z", "2026-06-01T23:00:00Z")},
			from:    "2026-06-01T12:00:00Z", n: 1,
			want: "nightly 2026-06-01T23:00:00Z-2026-06-02T02:00:00Z\n",
		},
		{
			name:    "a freeze over the end trims the window to its open start",
			ws:      []Window{nightly},
			freezes: []Freeze{freeze("2026-06-02T01:00:00Z", "2026-06-02T09:00:00Z")},
			from:    "2026-06-01T12:00:00Z", n: 1,
			want: "nightly 2026-06-01T22:00:00Z-2026-06-02T01:00:00Z\n",
		},
		{
			name:    "a freeze in the middle splits the window in two",
			ws:      []Window{nightly},
			freezes: []Freeze{freeze("2026-06-01T23:00:00Z", "2026-06-02T00:00:00Z")},
			from:    "2026-06-01T12:00:00Z", n: 3,
			want: "nightly 2026-06-01T22:00:00Z-2026-06-01T23:00:00Z\n" +
				"nightly 2026-06-02T00:00:00Z-2026-06-02T02:00:00Z\n" +
				"nightly 2026-06-02T22:00:00Z-2026-06-03T02:00:00Z\n",
		},
		{
			name: "freezes given in any order and overlapping each other all apply",
			ws:   []Window{nightly},
			freezes: []Freeze{
				freeze("2026-06-02T00:30:00Z", "2026-06-02T01:00:00Z"),
				freeze("2026-06-01T21:00:00Z", "2026-06-01T23:00:00Z"),
				freeze("2026-06-01T22:30:00Z", "2026-06-02T00:00:00Z"),
			},
			from: "2026-06-01T12:00:00Z", n: 2,
			want: "nightly 2026-06-02T00:00:00Z-2026-06-02T00:30:00Z\n" +
				"nightly 2026-06-02T01:00:00Z-2026-06-02T02:00:00Z\n",
		},
		{
			name:    "a freeze that keeps a window shut for months is searched past",
			ws:      []Window{berlinTue},
			freezes: []Freeze{freeze("2026-01-01T00:00:00Z", "2026-09-01T00:00:00Z")},
			from:    "2026-01-01T00:00:00Z", n: 1,
			want: "tue 2026-09-01T20:00:00Z-2026-09-01T22:00:00Z\n",
		},
		{
			name: "fewer windows than asked within the two-year horizon gives a shorter result",
			ws:   []Window{yearly},
			from: "2026-06-01T00:00:00Z", n: 5,
			want: "newyear 2027-01-01T00:00:00Z-2027-01-01T01:00:00Z\n" +
				"newyear 2028-01-01T00:00:00Z-2028-01-01T01:00:00Z\n",
		},
		{
			name: "a rule that has run out gives nothing",
			ws:   []Window{once},
			from: "2026-06-01T00:00:00Z", n: 3,
			want: "",
		},
		{
			name:    "a freeze longer than the horizon gives nothing and returns",
			ws:      []Window{nightly, berlinTue},
			freezes: []Freeze{freeze("2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z")},
			from:    "2026-01-01T00:00:00Z", n: 1,
			want: "",
		},
		{
			name: "n of zero asks for nothing",
			ws:   []Window{nightly},
			from: "2026-01-01T00:00:00Z", n: 0,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.ws, tt.freezes, utc(tt.from), tt.n)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if render(got) != tt.want {
				t.Errorf("Next\n got:\n%s\nwant:\n%s", render(got), tt.want)
			}
		})
	}
}

func TestNextRejectsBadInput(t *testing.T) {
	good := Window{Name: "ok", RRule: "FREQ=DAILY", Start: "22:00", Duration: time.Hour, TZ: "UTC"}
	bad := Window{Name: "mars", RRule: "FREQ=DAILY", Start: "22:00", Duration: time.Hour, TZ: "Mars/Olympus"}
	from := utc("2026-01-01T00:00:00Z")

	_, err := Next([]Window{good, bad}, nil, from, 1)
	var verr *fielderr.Error
	if !errors.As(err, &verr) || verr.Path != "tz" || !strings.Contains(err.Error(), `window "mars"`) {
		t.Errorf("Next with an unknown zone: err = %v, want a tz error naming window \"mars\"", err)
	}
	backwards := Freeze{Name: "oops", Start: from.Add(time.Hour), End: from}
	_, err = Next([]Window{good}, []Freeze{backwards}, from, 1)
	if !errors.As(err, &verr) || verr.Path != "end" || !strings.Contains(err.Error(), `freeze "oops"`) {
		t.Errorf("Next with a backwards freeze: err = %v, want an end error naming freeze \"oops\"", err)
	}
}

func TestOverlaps(t *testing.T) {
	from, to := utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")
	tue := Window{Name: "tue", RRule: "FREQ=WEEKLY;BYDAY=TU", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"}
	wed := Window{Name: "wed", RRule: "FREQ=WEEKLY;BYDAY=WE", Start: "01:00", Duration: time.Hour, TZ: "Europe/Berlin"}
	thu := Window{Name: "thu", RRule: "FREQ=WEEKLY;BYDAY=TH", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin"}
	long := Window{Name: "long", RRule: "FREQ=DAILY", Start: "22:00", Duration: 30 * time.Hour, TZ: "UTC"}
	touching := Window{Name: "after-tue", RRule: "FREQ=WEEKLY;BYDAY=WE", Start: "02:00", Duration: time.Hour, TZ: "Europe/Berlin"}

	tests := []struct {
		name string
		ws   []Window
		want string // substring of the error; "" for none
	}{
		{"separate windows do not overlap", []Window{tue, thu}, ""},
		{"a window starting when another ends does not overlap", []Window{tue, touching}, ""},
		{"a window inside another overlaps, naming both", []Window{tue, thu, wed}, `windows "tue" and "wed" overlap`},
		{"a window longer than its interval overlaps itself", []Window{long}, `window "long" overlaps itself`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Overlaps(tt.ws, from, to)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Overlaps = %v, want nil", err)
				}
				return
			}
			var verr *fielderr.Error
			if !errors.As(err, &verr) || verr.Path != "windows" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Overlaps = %v, want a windows error containing %q", err, tt.want)
			}
		})
	}
}
