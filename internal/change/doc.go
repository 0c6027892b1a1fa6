// Package change is the lifecycle of a change request as pure logic: its
// states, the actions people and the rollout engine take on it, who may
// take each one, and the digest that binds an approval to the plan that
// was reviewed. It does no I/O and reads no clock; the server loads the
// facts (Change, Actor), asks Decide, and stores the Decision with its
// event in one transaction. It is not the rollout engine (internal/rollout
// decides jobs) and it does not build plans.
//
// Key invariant: the transition table in table.go is the only place that
// decides whether (state, action, actor) is allowed and what the next
// state is. Server, API, console and CLI all ask Decide; the console shows
// a button only where Allowed says yes.
//
// The rules the table encodes:
//
//   - An approval is bound to the plan's content digest (Content.Digest).
//     Any edit, by anyone, voids it and sends the change back to pending
//     approval; Start refuses a plan whose digest is not the approved one.
//   - The approver is neither the author nor any editor, holds the global
//     approver role, and is an approver or security member of every team
//     owning a target group. A global admin may approve outside his teams;
//     the event says so.
//   - A problem sign-off ends the change completed-with-problems, never
//     completed; a later "ok" does not erase a problem.
//   - A rollback of hosts, a wave or the whole change stops forward
//     dispatch (rolling-back) and ends rolled-back or rollback-failed,
//     never in a success state.
//   - Nothing starts or resumes while the emergency stop is in force.
package change
