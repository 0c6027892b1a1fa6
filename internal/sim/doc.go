// Package sim runs a simulated fleet: many agents in one process, each with
// its own key, certificate and state, speaking the real protocol to a real
// server with package sets drawn from real inventories. It is for load
// tests, benchmarks and demos, never for production hosts.
//
// Simulated hosts run the real agent code (package agent) with an
// in-memory state and a collector that serves, and slowly changes, a
// package set; only the host is simulated, not the protocol.
package sim
