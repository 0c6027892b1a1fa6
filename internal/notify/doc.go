// Package notify decides who hears about what, and in which words: events
// (a change moved, a finding went overdue, a feed failed to sync) are
// resolved to recipients from the organisation (a group's stakeholder and
// sysadmin, a team's approvers, a change's author) and to channels, by the
// teams' subscriptions in the organisation YAML or by the defaults below;
// and messages are rendered for each channel (signed webhook JSON, Slack
// Block Kit, email with a change's window as iCalendar). Teams' escalation
// ladders turn a lasting situation into one event per reached step.
//
// It is pure: it takes values and returns decisions and bytes. Storing
// messages (the outbox, package store) and sending them (package
// delivery) happen elsewhere. Its key invariant: an occurrence of an event
// has one ID, and a message's idempotency key is derived from that ID, the
// recipient and the channel, so a receiver can drop duplicates and the
// outbox stores each message once however often the event is observed.
package notify
