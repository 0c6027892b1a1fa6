package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/schedule"
)

// Email is a message rendered for the email channel: a subject and the same
// words as plain text and as HTML, and the change's schedule as an
// iCalendar attachment when the event carries one.
type Email struct {
	Subject string
	Text    string
	HTML    string
	// Calendar is a VCALENDAR with METHOD:PUBLISH and one VEVENT, or nil.
	Calendar []byte
}

// CalendarName is the file name of an email's iCalendar attachment.
const CalendarName = "schedule.ics"

var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body>
<h1>{{.Subject}}</h1>
<p>{{.Text}}</p>
{{- if .Schedule}}
<p>Planned: {{.Start}} to {{.End}} (UTC){{if .Schedule.Detail}}. {{.Schedule.Detail}}{{end}}</p>
{{- end}}
{{- if .URL}}
<p><a href="{{.URL}}">Open in Patchbay</a></p>
{{- end}}
<p><small>{{.Why}} · {{.Kind}} · {{.At}}</small></p>
</body></html>
`))

// EmailBody renders ev for d. consoleURL is the console's base URL; now is
// the calendar's DTSTAMP. The calendar event's UID is derived from the
// change, so a later message about the same change updates the entry a
// calendar program made from an earlier one instead of adding another.
func EmailBody(ev Event, d Delivery, consoleURL string, now time.Time) (Email, error) {
	const stamp = "2006-01-02 15:04"
	why := "Sent to " + d.Recipient
	if d.Role != "" {
		why += " as " + d.Role
	}
	u := link(ev, consoleURL)
	var txt strings.Builder
	txt.WriteString(ev.Text + "\n")
	if ev.Schedule != nil {
		fmt.Fprintf(&txt, "\nPlanned: %s to %s (UTC)", ev.Schedule.Start.UTC().Format(stamp), ev.Schedule.End.UTC().Format(stamp))
		if ev.Schedule.Detail != "" {
			txt.WriteString(". " + ev.Schedule.Detail)
		}
		txt.WriteString("\n")
	}
	if u != "" {
		txt.WriteString("\nOpen in Patchbay: " + u + "\n")
	}
	fmt.Fprintf(&txt, "\n-- \n%s · %s · %s\n", why, ev.Kind, ev.At.UTC().Format(time.RFC3339))
	var html bytes.Buffer
	data := map[string]any{"Subject": ev.Subject, "Text": ev.Text, "Schedule": ev.Schedule, "URL": u, "Why": why,
		"Kind": string(ev.Kind), "At": ev.At.UTC().Format(time.RFC3339)}
	if ev.Schedule != nil {
		data["Start"], data["End"] = ev.Schedule.Start.UTC().Format(stamp), ev.Schedule.End.UTC().Format(stamp)
	}
	if err := emailHTML.Execute(&html, data); err != nil {
		return Email{}, err
	}
	out := Email{Subject: ev.Subject, Text: txt.String(), HTML: html.String()}
	if ev.Schedule != nil && ev.Change != "" {
		desc := ev.Text
		if ev.Schedule.Detail != "" {
			desc += "\n" + ev.Schedule.Detail
		}
		if u != "" {
			desc += "\n" + u
		}
		cal, err := schedule.ICS("Patchbay change "+ev.Change, []schedule.CalendarEvent{{
			UID: "change-" + ev.Change + "@patchbay", Summary: ev.Subject, Description: desc,
			Start: ev.Schedule.Start, End: ev.Schedule.End, Kind: schedule.KindChange}}, now)
		if err != nil {
			return Email{}, fmt.Errorf("change %s schedule: %w", ev.Change, err)
		}
		out.Calendar = cal
	}
	return out, nil
}
