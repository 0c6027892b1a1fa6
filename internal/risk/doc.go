// Package risk turns what is known about one finding — CVSS vectors, the
// distro's severity word, CISA KEV membership, EPSS, and the host's
// criticality and exposure — into a priority from 0 to 100 with a line of
// explanation per factor, a CISA SSVC decision (Track, Track*, Attend, Act),
// and an SLA due date.
//
// It is pure logic: it does no I/O, reads no clock and imports nothing
// internal. Fetching feeds, matching packages and storing findings happen
// elsewhere; callers pass values in and get decisions back.
//
// Key invariant: Score is monotone. Raising any single risk factor (a higher
// CVSS score or severity, KEV, ransomware use, a higher EPSS probability, a
// fix becoming available, higher host criticality, internet exposure) never
// lowers the priority, and the priority always lies in [0, 100].
// docs/risk.md documents the formula with worked examples.
package risk
