package schedule

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
)

// ProductID is the PRODID of every calendar this package writes.
const ProductID = "-//Patchbay//Patchbay//EN"

// Kinds of calendar events.
const (
	KindWindow = "window"
	KindFreeze = "freeze"
	KindChange = "change"
)

// CalendarEvent is one VEVENT of a patch calendar feed.
type CalendarEvent struct {
	// UID identifies the event across feed refreshes; keep it stable.
	UID         string
	Summary     string
	Description string
	Start, End  time.Time
	// Kind is KindWindow, KindFreeze or KindChange; it becomes CATEGORIES.
	Kind string
	// Owner is who is responsible, written as CONTACT; if it is an e-mail
	// address it is also the ORGANIZER.
	Owner string
}

// ICS renders events as an RFC 5545 VCALENDAR named name, for calendar
// programs to subscribe to. Times are written in UTC; now is the DTSTAMP.
// Events are sorted by start and UID so the same input gives the same bytes.
// Control characters other than newline and tab are removed from text, and
// invalid UTF-8 is replaced, because RFC 5545 TEXT cannot carry them.
func ICS(name string, events []CalendarEvent, now time.Time) ([]byte, error) {
	if strings.TrimSpace(name) == "" {
		return nil, invalid("name", "required")
	}
	for i, e := range events {
		var err error
		switch {
		case e.UID == "":
			err = invalid("uid", "required")
		case e.Start.IsZero():
			err = invalid("start", "required")
		case !e.End.After(e.Start):
			err = invalid("end", "%s must be after start %s", e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339))
		}
		if err != nil {
			return nil, fmt.Errorf("event %d (%q): %w", i, e.UID, err)
		}
	}
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b CalendarEvent) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.UID, b.UID)
	})

	cal := ics.NewCalendar()
	cal.SetProductId(ProductID)
	cal.SetVersion("2.0")
	cal.SetCalscale("GREGORIAN")
	cal.SetMethod(ics.MethodPublish)
	cal.SetXWRCalName(text(name))
	// Ask subscribed clients to refresh hourly (RFC 7986 and its Apple/Microsoft forerunner).
	cal.SetRefreshInterval("PT1H")
	cal.SetXPublishedTTL("PT1H")
	for _, e := range sorted {
		ev := cal.AddEvent(text(e.UID))
		ev.SetDtStampTime(now)
		ev.SetStartAt(e.Start)
		ev.SetEndAt(e.End)
		ev.SetSummary(text(e.Summary))
		if e.Description != "" {
			ev.SetDescription(text(e.Description))
		}
		if e.Kind != "" {
			ev.AddCategory(text(e.Kind))
		}
		if e.Owner != "" {
			ev.SetProperty(ics.ComponentPropertyContact, text(e.Owner))
			if addr, err := mail.ParseAddress(e.Owner); err == nil && addr.Name == "" {
				ev.SetOrganizer("mailto:" + addr.Address)
			}
		}
	}
	var buf bytes.Buffer
	if err := cal.SerializeTo(&buf, ics.WithNewLineWindows); err != nil {
		return nil, fmt.Errorf("write calendar %q: %w", name, err)
	}
	return buf.Bytes(), nil
}

// text makes s safe for an RFC 5545 TEXT value (escaping is the writer's
// job): valid UTF-8, line breaks as "\n", no other control characters.
func text(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n' || r == '\t':
			return r
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}

// eventUID derives a stable UID from its parts.
func eventUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16]) + "@patchbay"
}

// WindowEvents expands the occurrences of w overlapping [from, to) into
// calendar events for group. Each UID is a hash of group, window name and
// occurrence start, so it stays the same across feed refreshes.
func WindowEvents(w Window, group string, from, to time.Time) ([]CalendarEvent, error) {
	occs, err := w.Occurrences(from, to)
	if err != nil {
		return nil, fmt.Errorf("window %q: %w", w.Name, err)
	}
	loc, _ := time.LoadLocation(w.TZ) // valid: Occurrences succeeded
	events := make([]CalendarEvent, 0, len(occs))
	for _, o := range occs {
		desc := fmt.Sprintf("Maintenance window %q of group %q: %s to %s %s (%s).",
			w.Name, group, o.Start.In(loc).Format("Mon 2006-01-02 15:04"), o.End.In(loc).Format("Mon 2006-01-02 15:04"), w.TZ, w.RRule)
		if w.OffsetDays != 0 {
			desc += fmt.Sprintf(" Offset %+d days from the rule.", w.OffsetDays)
		}
		if w.MaxRandomDelay > 0 {
			desc += fmt.Sprintf(" Hosts start up to %s after the window opens.", w.MaxRandomDelay)
		}
		events = append(events, CalendarEvent{
			UID:         eventUID(KindWindow, group, w.Name, o.Start.UTC().Format(time.RFC3339)),
			Summary:     fmt.Sprintf("Maintenance: %s (%s)", w.Name, group),
			Description: desc,
			Start:       o.Start,
			End:         o.End,
			Kind:        KindWindow,
		})
	}
	return events, nil
}

// FreezeEvent returns the calendar event for f. Its UID is a hash of the
// freeze's scope, name and start.
func FreezeEvent(f Freeze) CalendarEvent {
	desc := "Change freeze"
	if f.Scope != "" {
		desc += " (" + f.Scope + ")"
	}
	desc += ": no maintenance windows open."
	if f.Reason != "" {
		desc += " Reason: " + f.Reason
	}
	return CalendarEvent{
		UID:         eventUID(KindFreeze, f.Scope, f.Name, f.Start.UTC().Format(time.RFC3339)),
		Summary:     "Freeze: " + f.Name,
		Description: desc,
		Start:       f.Start,
		End:         f.End,
		Kind:        KindFreeze,
	}
}
