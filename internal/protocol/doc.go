// Package protocol holds the wire types spoken between agent and server
// under /agent/v1/, and their version number.
//
// It is not for server-side or agent-side logic: both sides import these
// types and nothing else of each other. Every field the agent sends is
// hostile input to the server; Validate methods bound sizes and shapes
// before anything is stored.
package protocol
