package audit

import (
	"strconv"
	"strings"
)

// SyslogEnterpriseID is the private enterprise number in Patchbay's
// structured-data ID, patchbay@32473 (32473 is IANA's example number).
const SyslogEnterpriseID = 32473

// Syslog facility and severities used by Syslog (RFC 5424 section 6.2.1).
const (
	syslogFacilityLogAudit = 13
	syslogSeverityWarning  = 4
	syslogSeverityNotice   = 5
)

// Syslog formats e as one RFC 5424 message, without a trailing newline
// (the caller frames it):
//
//	<109>1 2024-05-01T10:42:00.123Z host patchbay - audit [patchbay@32473 seq="1" actor="alice" action="login" target="" outcome="ok"] alice login: ok
//
// The facility is 13 (log audit); the severity is notice when Outcome is
// "ok", warning otherwise. Header fields are reduced to printable US-ASCII
// ("_" replaces anything else; "-" when empty) and cut to RFC 5424's
// lengths. In parameter values '"', '\' and ']' are escaped with '\'; in
// values and in the message, control characters (newlines included) become
// spaces and invalid UTF-8 becomes U+FFFD, so a hostile value can neither
// end the line nor the structured data.
func Syslog(e Entry, hostname, app string) string {
	sev := syslogSeverityWarning
	if e.Outcome == "ok" {
		sev = syslogSeverityNotice
	}
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(syslogFacilityLogAudit*8 + sev))
	b.WriteString(">1 ")
	b.WriteString(syslogTime(e))
	b.WriteByte(' ')
	b.WriteString(headerField(hostname, 255))
	b.WriteByte(' ')
	b.WriteString(headerField(app, 48))
	b.WriteString(" - audit [patchbay@")
	b.WriteString(strconv.Itoa(SyslogEnterpriseID))
	b.WriteString(` seq="`)
	b.WriteString(strconv.FormatUint(e.Seq, 10))
	for _, p := range []struct{ name, v string }{
		{"actor", e.Actor}, {"action", e.Action}, {"target", e.Target}, {"outcome", e.Outcome},
	} {
		b.WriteString(`" `)
		b.WriteString(p.name)
		b.WriteString(`="`)
		writeSDValue(&b, p.v)
	}
	b.WriteString(`"] `)
	msg := e.Actor + " " + e.Action
	if e.Target != "" {
		msg += " " + e.Target
	}
	msg += ": " + e.Outcome
	if e.Summary != "" {
		msg += ": " + e.Summary
	}
	writeText(&b, msg)
	return b.String()
}

func syslogTime(e Entry) string {
	t := e.Time.UTC()
	if t.IsZero() || t.Year() > 9999 {
		return "-"
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

// headerField keeps s to the PRINTUSASCII characters RFC 5424 allows in
// HOSTNAME and APP-NAME.
func headerField(s string, max int) string {
	if s == "" {
		return "-"
	}
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return '_'
		}
		return r
	}, s)
}

// writeSDValue writes s as an RFC 5424 PARAM-VALUE (section 6.3.3).
func writeSDValue(b *strings.Builder, s string) {
	for _, r := range s { // invalid UTF-8 arrives as U+FFFD
		switch {
		case r == '"' || r == '\\' || r == ']':
			b.WriteByte('\\')
			b.WriteRune(r)
		case isControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}

func writeText(b *strings.Builder, s string) {
	for _, r := range s {
		if isControl(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
}

// isControl reports C0 and C1 controls, DEL and the Unicode line and
// paragraph separators: anything a receiver might take as a line break.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029'
}
