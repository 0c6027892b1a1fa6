// Package fielderr is the one error type for input that fails validation:
// an Error names the field by its path ("groups[1].ring", "facts.hostname")
// and says what is wrong; a List gathers every problem found in one input.
//
// The pure packages that validate input (policy, rollout, schedule) and the
// wire types (protocol) return these, and the server maps them to HTTP 400
// with the field paths in one place. It is not for errors that are not about
// a field of the caller's input.
//
// Invariant: a List returned as an error holds at least one problem.
package fielderr
