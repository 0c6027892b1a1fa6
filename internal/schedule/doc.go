// Package schedule answers "when may this group be patched?": maintenance
// windows described by RFC 5545 recurrence rules in an IANA time zone, change
// freezes that override them, a deterministic per-host start delay that
// spreads load across a window, and iCalendar feeds of all of it.
//
// It is pure logic: it takes values (and the caller's notion of "now") and
// returns decisions. It does no I/O, reads no clock and knows nothing about
// hosts, groups or teams beyond the names it is given; callers pick the
// windows and freezes that apply.
//
// The key invariant is that a window is defined in local wall-clock time and
// lasts a real elapsed duration: "22:00 Europe/Berlin for 4h" starts at 22:00
// local time on both sides of a daylight-saving change and always ends 4h of
// real time later. Every instant this package returns is in UTC.
package schedule
