// Package client is the Go client of Patchbay's HTTP API, used by the CLI
// and by tests. It verifies the server against the Patchbay CA and sends
// the API token as a bearer token; it holds no business logic.
package client
