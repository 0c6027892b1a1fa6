// Package api holds the JSON shapes of the HTTP API under /api/v1/, shared
// by the server that writes them and the CLI client that reads them.
//
// It holds no behaviour. A field once published keeps its name and meaning;
// new fields are added, never repurposed.
package api
