package schedule

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apognu/gocal"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// parseICS parses a feed with gocal, an iCalendar parser independent of the
// library that wrote it, in its strict mode.
func parseICS(t *testing.T, data []byte) []gocal.Event {
	t.Helper()
	start, end := utc("2000-01-01T00:00:00Z"), utc("2100-01-01T00:00:00Z")
	p := gocal.NewParser(bytes.NewReader(data))
	p.Start, p.End = &start, &end
	if err := p.Parse(); err != nil {
		t.Fatalf("gocal: %v\n%s", err, data)
	}
	return p.Events
}

func TestICSParsesWithAnIndependentLibrary(t *testing.T) {
	w := Window{Name: "pt+3", RRule: "FREQ=MONTHLY;BYDAY=2TU", OffsetDays: 3, Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin", MaxRandomDelay: 30 * time.Minute}
	windows, err := WindowEvents(w, "web-prod", utc("2026-03-01T00:00:00Z"), utc("2026-05-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(windows) != 2 {
		t.Fatalf("got %d window events, want 2 (13 March and 17 April)", len(windows))
	}
	tricky := "Kernel update, glibc; openssl\nthen reboot \\ check C:\\temp, \"quoted\" — ünïcödé and a long line that must be folded because it is far longer than seventy-five octets"
	change := CalendarEvent{
		UID: "change-42@patchbay", Summary: "CHG-42: glibc, openssl; reboot", Description: tricky,
		Start: utc("2026-04-02T08:00:00Z"), End: utc("2026-04-02T10:00:00Z"), Kind: KindChange, Owner: "ops@example.com",
	}
	freeze := FreezeEvent(Freeze{Name: "Easter", Start: utc("2026-04-03T00:00:00Z"), End: utc("2026-04-07T00:00:00Z"), Reason: "holidays, low staff", Scope: "global"})
	events := append(slices.Clone(windows), change, freeze)
	now := utc("2026-02-20T09:30:00Z")

	data, err := ICS("Patch calendar: web, prod", events, now)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the feed has the calendar headers and CRLF lines of at most 75 octets", func(t *testing.T) {
		for _, want := range []string{"BEGIN:VCALENDAR\r\n", "PRODID:-//Patchbay//Patchbay//EN\r\n", "VERSION:2.0\r\n", "X-WR-CALNAME:Patch calendar: web\\, prod\r\n", "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n", "END:VCALENDAR\r\n"} {
			if !bytes.Contains(data, []byte(want)) {
				t.Errorf("feed lacks %q", want)
			}
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
		for _, l := range lines {
			if len(l) > 75 || strings.ContainsAny(l, "\r\n") {
				t.Errorf("bad line %q", l)
			}
		}
	})

	got := parseICS(t, data)
	if len(got) != len(events) {
		t.Fatalf("gocal found %d events, want %d", len(got), len(events))
	}
	byUID := map[string]gocal.Event{}
	for _, e := range got {
		byUID[e.Uid] = e
	}
	for _, want := range events {
		t.Run("event "+want.Summary+" round-trips", func(t *testing.T) {
			e, ok := byUID[want.UID]
			if !ok {
				t.Fatalf("no event with UID %q", want.UID)
			}
			if !e.Start.Equal(want.Start) || !e.End.Equal(want.End) {
				t.Errorf("event runs %s–%s, want %s–%s", e.Start, e.End, want.Start, want.End)
			}
			if e.Summary != want.Summary {
				t.Errorf("summary %q, want %q", e.Summary, want.Summary)
			}
			// gocal does not turn the escaped "\n" back into a newline, so
			// compare in its terms; commas, semicolons and backslashes it does.
			if wantDesc := strings.ReplaceAll(want.Description, "\n", `\n`); e.Description != wantDesc {
				t.Errorf("description %q, want %q", e.Description, wantDesc)
			}
			if !slices.Equal(e.Categories, []string{want.Kind}) {
				t.Errorf("categories %q, want [%q]", e.Categories, want.Kind)
			}
			if e.Stamp == nil || !e.Stamp.Equal(now) {
				t.Errorf("DTSTAMP %v, want %s", e.Stamp, now)
			}
		})
	}
	if o := byUID[change.UID].Organizer; o == nil || o.Value != "mailto:ops@example.com" {
		t.Errorf("organizer of the change = %+v, want mailto:ops@example.com", o)
	}
	if !bytes.Contains(data, []byte("CONTACT:ops@example.com\r\n")) {
		t.Errorf("the change has no CONTACT line")
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if s := byUID[windows[1].UID].Start.In(berlin); s.Format("Mon 2006-01-02 15:04") != "Fri 2026-04-17 22:00" {
		t.Errorf("second window starts %s in Berlin, want Fri 2026-04-17 22:00", s)
	}

	t.Run("the same input gives the same bytes and UIDs", func(t *testing.T) {
		again, _ := WindowEvents(w, "web-prod", utc("2026-03-01T00:00:00Z"), utc("2026-05-01T00:00:00Z"))
		if again[0].UID != windows[0].UID {
			t.Errorf("UID changed between calls: %q then %q", windows[0].UID, again[0].UID)
		}
		reversed := slices.Clone(events)
		slices.Reverse(reversed)
		data2, _ := ICS("Patch calendar: web, prod", reversed, now)
		if !bytes.Equal(data, data2) {
			t.Errorf("feed depends on the order of events")
		}
		other, _ := WindowEvents(w, "db-prod", utc("2026-03-01T00:00:00Z"), utc("2026-05-01T00:00:00Z"))
		if other[0].UID == windows[0].UID {
			t.Errorf("two groups share the UID %q", other[0].UID)
		}
	})
}

func TestICSStripsControlCharacters(t *testing.T) {
	e := CalendarEvent{UID: "x", Summary: "bell\a and\r\nCRLF\rCR\x00nul\xff", Start: utc("2026-01-01T00:00:00Z"), End: utc("2026-01-01T01:00:00Z")}
	data, err := ICS("c", []CalendarEvent{e}, utc("2026-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseICS(t, data)
	if len(got) != 1 || got[0].Summary != `bell and\nCRLF\nCRnul`+"\uFFFD" {
		t.Errorf("summary = %q", got[0].Summary)
	}
}

func TestICSRejectsBadEvents(t *testing.T) {
	start := utc("2026-01-01T00:00:00Z")
	tests := []struct {
		name   string
		cal    string
		events []CalendarEvent
		field  string
	}{
		{"a calendar without a name", "", nil, "name"},
		{"an event without a UID", "c", []CalendarEvent{{Start: start, End: start.Add(time.Hour)}}, "uid"},
		{"an event without a start", "c", []CalendarEvent{{UID: "u", End: start}}, "start"},
		{"an event ending before it starts", "c", []CalendarEvent{{UID: "u", Start: start, End: start.Add(-time.Hour)}}, "end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ICS(tt.cal, tt.events, start)
			var verr *fielderr.Error
			if !errors.As(err, &verr) || verr.Path != tt.field {
				t.Errorf("ICS = %v, want a %s error", err, tt.field)
			}
		})
	}
}
