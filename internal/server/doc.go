// Package server is the Patchbay control plane: the HTTP API under
// /api/v1/, the agent endpoints under /agent/v1/ (mutual TLS), health and
// metrics, and the first-start bootstrap of the data directory.
//
// Every route is registered in one table with the permission it needs; a
// request whose route declares none is refused (fail closed). The host
// behind an agent request is identified by its client certificate only,
// never by anything in the request body.
package server
