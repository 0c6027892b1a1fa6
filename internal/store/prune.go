package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// Package versions are interned once for the whole fleet, so a host that
// reports new versions at every check-in would grow package_versions (and
// the match results on it) without limit. A check-in therefore removes the
// versions it released (the ones its host held before in the slots it
// changed or removed) that no host holds any more, with their match
// results, in the same transaction. Findings keep their own copy of the
// installed version, so their history does not depend on these rows.

// pruneVersions removes those of ids that no host holds, with their match
// results, and forgets them in the intern cache. It runs inside the
// check-in's transaction, before the commit: a cache entry is dropped
// before any later transaction could read it.
//
// On PostgreSQL other check-ins run at the same time. A check-in about to
// reference a version holds it FOR KEY SHARE first (intern), and
// prune takes its candidates FOR UPDATE SKIP LOCKED, so it leaves alone
// the versions others are taking up; with its candidates locked, no new
// reference can appear, and it checks again which are unreferenced (a
// new statement sees references committed since the first) before it
// deletes them.
func (s *DB) pruneVersions(ctx context.Context, tx *sql.Tx, ids []int64) error {
	seen := make(map[int64]bool, len(ids))
	uniq := ids[:0:0]
	for _, id := range ids {
		if id != 0 && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	lock := ""
	if s.dialect == Postgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	var gone []pvKey
	for start := 0; start < len(uniq); start += batchRows {
		batch := uniq[start:min(start+batchRows, len(uniq))]
		in, args := idList(batch)
		rows, err := tx.QueryContext(ctx, s.q(`SELECT pv.id, pv.format, pv.name, pv.version, pv.arch, pv.source, pv.source_version
			FROM package_versions pv WHERE pv.id IN `+in+`
			AND NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.pv_id = pv.id)`+lock), args...)
		if err != nil {
			return err
		}
		candidates := map[int64]pvKey{}
		for rows.Next() {
			var id int64
			var k pvKey
			if err := rows.Scan(&id, &k.format, &k.name, &k.version, &k.arch, &k.source, &k.sourceVersion); err != nil {
				rows.Close()
				return err
			}
			candidates[id] = k
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(candidates) == 0 {
			continue
		}
		orphans := make([]int64, 0, len(candidates))
		if s.dialect == Postgres {
			locked := make([]int64, 0, len(candidates))
			for id := range candidates {
				locked = append(locked, id)
			}
			in, args = idList(locked)
			if orphans, err = s.unreferenced(ctx, tx, in, args); err != nil {
				return err
			}
		} else {
			for id := range candidates {
				orphans = append(orphans, id)
			}
		}
		if len(orphans) == 0 {
			continue
		}
		for _, id := range orphans {
			gone = append(gone, candidates[id])
		}
		in, args = idList(orphans)
		for _, del := range []string{
			`DELETE FROM pv_matches WHERE pv_id IN ` + in,
			`DELETE FROM pv_matched WHERE pv_id IN ` + in,
			`DELETE FROM package_versions WHERE id IN ` + in,
		} {
			if _, err := tx.ExecContext(ctx, s.q(del), args...); err != nil {
				return err
			}
		}
	}
	if len(gone) > 0 {
		s.mu.Lock()
		for _, k := range gone {
			delete(s.pvCache, k)
		}
		s.mu.Unlock()
	}
	return nil
}

// idList renders "(?, ?, …)" for ids and their arguments.
func idList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(", ?", len(ids)-1) + ")", args
}

// isForeignKeyViolation recognises a foreign key error of either driver
// without importing their error types.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "FOREIGN KEY constraint failed") || strings.Contains(m, "SQLSTATE 23503")
}

// lockVersion keeps a package version from being pruned until the
// transaction ends, and reports whether it still exists. SQLite's write
// transactions are serialised already.
func (s *DB) lockVersion(ctx context.Context, tx *sql.Tx, id int64) (bool, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = ` FOR KEY SHARE`
	}
	var got int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM package_versions WHERE id = ?`+lock), id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// txThen is tx, with after run under the intern cache's lock together
// with the commit: a transaction that prunes the cache cannot start
// between this commit and the cache update, so the cache never keeps a
// version that was removed.
func (s *DB) txThen(ctx context.Context, fn func(tx *sql.Tx) error, after func()) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return err
	}
	after()
	return nil
}

// unreferenced returns those of the versions in (in, args) that no host
// package references, as of now.
func (s *DB) unreferenced(ctx context.Context, tx *sql.Tx, in string, args []any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT pv.id FROM package_versions pv WHERE pv.id IN `+in+`
		AND NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.pv_id = pv.id)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// errVersionsGone says a version kept being removed while the check-in
// interned it; ApplyCheckin runs it again.
var errVersionsGone = errors.New("package versions were removed by concurrent check-ins")

// retryable says a check-in failed only because a concurrent one changed
// the package versions under it, so running it again will pass.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return errors.Is(err, errVersionsGone) || isForeignKeyViolation(err) || strings.Contains(m, "SQLSTATE 40P01") // deadlock_detected
}
