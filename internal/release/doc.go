// Package release signs agent binaries with an offline release key and
// verifies them on the agent before it replaces itself.
//
// A release is a signed note (golang.org/x/mod/sumdb/note, ed25519: the
// format the Go checksum database uses) naming the version, OS,
// architecture, size and SHA-256 of one patchbay-agent binary, and whether
// installing it over a newer version is allowed. The key is made and kept
// offline (`patchbay release-key create`); the server never holds it, so a
// compromised server can deliver a binary but cannot make an agent accept
// one. Agents pin the public key at install time (/etc/patchbay/release.pub).
//
// The swap keeps the previous binary and a pending marker with a deadline:
// a new binary that has not confirmed a check-in by then is put back.
package release
