// Package agent is the Patchbay agent: it enrolls the host once with an
// enrollment token, then checks in over mutual TLS with the host's facts,
// its inventory (in full the first time, as deltas after) and the updates
// its repositories offer, and renews its certificate before it expires.
//
// It trusts the server only after verifying it: on first contact by the CA
// fingerprint carried in the enrollment token (or a CA file), after that by
// the pinned CA. Its state is written atomically after every acknowledged
// report, so a crash never makes it claim a revision the server lacks.
package agent
