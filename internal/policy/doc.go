// Package policy describes the organisation as code: teams and their members,
// groups of hosts chosen by label selectors or static lists, rings, freezes,
// per-team policies (SLA days, KEV rule, auto-approval rules, holds) that a
// group may override, and exceptions (accepted risks). It also holds the
// role model (access.go): the roles and which permission each holds, which
// the server enforces and the console's tests share.
//
// It is pure logic: it parses and validates the YAML an admin applies,
// resolves which groups, owners, ring, reboot rule, windows and policy apply
// to a host, evaluates policies against a change, and diffs two
// organisations for `patchbay apply --dry-run`. It does no I/O, keeps no
// state and reads no clock; callers pass the time. Recurrence rules and time
// zones of maintenance windows are carried as plain values and checked by
// the caller through Hooks.ValidateWindow.
//
// Key invariant: wherever several groups disagree about a host, the result is
// the most conservative choice (latest ring, never-reboot first, shortest SLA,
// only the auto-approval rules all groups share), so belonging to one more
// group can never make a host be patched earlier or with less care.
package policy
