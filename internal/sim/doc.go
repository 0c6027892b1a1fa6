// Package sim runs a simulated fleet: many agents in one process, each with
// its own key, certificate and state, speaking the real protocol to a real
// server with package sets drawn from real inventories. It is for load
// tests, benchmarks and demos, never for production hosts.
//
// Simulated hosts run the real agent code (package agent) with an
// in-memory state and a collector that serves, and slowly changes, a
// package set; only the host is simulated, not the protocol.
//
// Package versions spread across hosts as in a real fleet (patchLag), and
// a state file (Config.StateFile) keeps an enrolled fleet between runs so
// that load tests enroll once. Its invariant: a resumed host reports the
// package set the server acknowledged last, or a full one.
package sim
