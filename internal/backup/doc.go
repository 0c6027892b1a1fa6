// Package backup writes and restores a Patchbay server backup: one
// gzip-compressed tar archive holding a manifest (format version, time,
// database schema version, and each file's size, mode and SHA-256), a
// consistent snapshot of the SQLite database (taken by the caller, for
// example with store.Snapshot) and the data directory's keys and secrets
// (CA, server and job-signing keys, admin token, audit head).
//
// It does not take the database snapshot itself and knows nothing of the
// schema; PostgreSQL is backed up with pg_dump beside a keys-only archive.
//
// Invariants: an archive is written with mode 0600 and appears under its
// name only when complete (temporary file, fsync, rename); a restore
// writes only into an empty directory and only after every file matched
// its manifest hash, so a damaged or foreign archive leaves nothing behind.
package backup
