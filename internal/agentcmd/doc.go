// Package agentcmd is the agent's command line, shared by the lean
// patchbay-agent binary and the `patchbay agent` alias: it reads the
// configuration file, environment and flags (flags win over the
// environment, the environment over the file), and wires the agent to this
// host's inventory, package manager and hooks.
//
// It holds no protocol logic (that is package agent) and must not reach
// the store, the server or the console: the lean binary's size depends on
// it, and a test in cmd/patchbay checks its dependency set.
package agentcmd
