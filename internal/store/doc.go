// Package store persists Patchbay's state behind one type, DB, on embedded
// SQLite (the default) or PostgreSQL. Both dialects run the same queries,
// written with '?' placeholders and rebound for PostgreSQL, and the same
// contract test suite. Migrations are embedded and versioned per dialect;
// Open applies them and refuses a database whose schema is newer than this
// binary knows.
//
// Times are stored as BIGINT Unix milliseconds (UTC). Package versions are
// interned: each distinct (format, name, version, arch, source,
// source version) tuple is one row of package_versions, and a host's
// inventory is a list of references to them, so matching cost follows the
// distinct tuples in the fleet rather than hosts × packages.
package store
