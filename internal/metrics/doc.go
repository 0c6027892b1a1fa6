// Package metrics computes the patch programme's KPIs — time to patch, patch
// coverage, SLA compliance, overdue findings by owner, unpatched critical
// systems, patch success and rollback rates, time to verify, deployment
// velocity, post-patch incident rate and rolling risk exposure — from stored
// history, and renders them as JSON, CSV and a printable HTML page.
//
// It is pure logic: the server loads findings, hosts, jobs and changes from
// the store into an Input and passes the clock's time; Compute does no I/O and
// reads no clock. It is not a monitoring system: live gauges for Prometheus
// live in the server.
//
// Key invariants: every series day is a UTC calendar day and every point only
// uses events at or before the end of that day (and never after now); a rate
// whose denominator is zero is null, never NaN or a guessed 0; excepted and
// held findings are never silently dropped — wherever a KPI does not count
// them against the fleet, it reports how many there were. docs/metrics.md
// defines every KPI precisely.
package metrics
