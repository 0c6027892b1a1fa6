// Package rollout is the rollout engine of a change: pure logic that turns a
// Plan and a stream of events (host results, health checks, halt, resume,
// cancel) into decisions (dispatch, reboot, restart, roll back, wait). It
// does no I/O, starts no goroutines and reads no clock: every call takes the
// time. The server persists the State (it is JSON) after every call and
// sends the jobs; it is not for building plans or talking to agents.
//
// The rules, each covered by tests after every step of random scenarios:
//
//   - Waves (Plan.Rings) run strictly in order. The next wave starts only
//     when every host of the current one has finished (succeeded, failed or
//     rolled back), Plan.Soak has elapsed since its last host result and
//     every Plan.HealthChecks entry was reported ok for it at or after that
//     last result. The last wave soaks and checks too before completion. A
//     ring without hosts is skipped.
//   - At most the batch limit of the current wave is in flight (install,
//     reboot or restart under way; rollbacks do not count).
//   - A job goes out only inside a window of the host's group, and only if it
//     would end inside it: Start <= now and now+JobTimeout <= End. A group
//     with no windows is never open. When windows close the rollout waits
//     and carries on in the next window with the hosts it had not reached;
//     no host receives a job twice. Rollbacks are repairs and ignore
//     windows, halts and cancellation.
//   - A dispatched job with no result before DispatchedAt+JobTimeout has
//     failed; Step applies this. A result at or after the deadline is refused.
//   - Failure budget (Plan.FailureBudget, or FailurePercent of all hosts,
//     rounded down) counts failed hosts over the whole change. When failures
//     exceed it the rollout halts at once and Resume is refused. Nothing is
//     dispatched while failures exceed the budget, so at every moment
//     failed <= budget + (hosts in flight at the last dispatch) <=
//     budget + batch limit.
//   - Reboot tiers: within a group and wave, no host of tier k+1 is
//     dispatched while a host of tier <= k is unfinished.
//   - After a good install, a host gets a Reboot if NeedsReboot, else a
//     Restart of RestartOnly services if any, never both. A RebootPolicy
//     sets both from the host's reported needs (AfterPatch): under
//     restart-services a host that needs a reboot is rebooted, one that
//     needs only service restarts gets those and is never rebooted, and
//     one that needs neither gets neither. Reboots and restarts happen
//     while the host is in flight, so they follow the reboot tiers: one
//     tier of a group and wave at a time, in order.
//   - Version pinning: the first dispatch of a package (per Platform, Name,
//     Arch) pins its version; every later dispatch of it, and every
//     UpdateTargets offering another version, gets the pinned one
//     (UpdateTargets reports each replacement). An ok install result is
//     verified against the pinned versions; a mismatch fails the host.
//   - Halted or cancelled: nothing is dispatched; Resume continues where the
//     rollout stopped. An operator's Halt also holds rollbacks back (no job
//     at all goes out) until Resume or a rollback request. Withdraw puts a
//     job taken back before delivery up for dispatch again.
//   - Whole rollback (RollBackAll, from running, halted, cancelled or
//     completed): nothing goes forward again; every host that installed is
//     rolled back, a host in flight when it reports or times out; the
//     rollout ends rolled-back, or rollback-failed naming the hosts, never
//     completed. A host rollback (RollBack) halts the rollout so a person
//     decides: Resume, or roll back the whole change.
//   - Exclude takes a host whose job cannot be built out of the rollout
//     without counting it against the budget; rings without hosts are not
//     waves (Summary.Waves).
//   - Idempotence: Step at the same time twice returns no job twice; a result
//     for an unknown host, a job not in flight or a duplicate is refused
//     with an error and no change, so replaying events after a crash is safe.
//   - A State decoded from its JSON behaves exactly like the original.
package rollout
