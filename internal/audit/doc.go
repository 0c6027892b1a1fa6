// Package audit defines Patchbay's tamper-evident audit log: the entry
// format, the hash chain that links entries, signed checkpoints, and the
// verifier that finds the first entry that was edited, deleted, inserted,
// reordered or truncated. It also exports entries as JSON lines and as
// RFC 5424 syslog lines for a SIEM.
//
// It is pure logic over values, io.Reader and io.Writer; storing entries
// and checkpoints is the server's job.
//
// Invariant: entry n (n ≥ 2) carries the Hash of entry n-1 as its PrevHash,
// and every Hash is the hex SHA-256 of Canonical(entry). Anyone who can
// rewrite the store can rewrite a whole tail consistently; only a checkpoint
// signed with the server's ed25519 key, kept apart from the log, catches
// that.
package audit
