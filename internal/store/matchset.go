package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/match"
)

// The set-based side of matching: when an advisory is new or changed, the
// distinct (release, package version) tuples it may concern are matched
// again in memory and the findings of every host carrying them are
// brought in line with a few statements per tuple, instead of one
// reconciliation per host. ReconcileFindings stays the per-host path (a
// host's own check-in) and the oracle the set-based path is tested
// against: both leave the same findings and the same history.

// releaseHosts is the condition on hosts h of a release: active, with the
// distribution's os-release ID, and a VERSION_ID that match.Release maps to
// the release (exact for Ubuntu and Debian, "9.4" for AlmaLinux 9, "3.19.1"
// for Alpine 3.19).
func releaseHosts(distro, release string) (string, []any) {
	switch distro {
	case "ubuntu", "debian":
		return `h.revoked_at IS NULL AND h.os_id = ? AND h.os_version = ?`, []any{distro, release}
	}
	return `h.revoked_at IS NULL AND h.os_id = ? AND (h.os_version = ? OR h.os_version LIKE ? ESCAPE '\')`,
		[]any{distro, release, likeEscape(release) + ".%"}
}

// KeyTuples returns the distinct package versions that active hosts of
// the key's release hold under the key's package name, as binary or as
// source.
func (s *DB) KeyTuples(ctx context.Context, k match.Key) ([]PVTuple, error) {
	return s.ReleaseTuples(ctx, k.Distro, k.Release, []string{k.Package})
}

// ReleaseTuples is KeyTuples for many package names of one release, in a
// query per 500 names, each version once, by ID.
func (s *DB) ReleaseTuples(ctx context.Context, distro, release string, packages []string) ([]PVTuple, error) {
	cond, condArgs := releaseHosts(distro, release)
	// No host of the release: nothing to read (a first import of a feed
	// names thousands of packages of releases a fleet may not run).
	var hosts int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM hosts h WHERE `+cond+` LIMIT 1) x`), condArgs...).Scan(&hosts)
	if err != nil || hosts == 0 {
		return nil, err
	}
	// Two steps, each led by an index: the versions under the names
	// (package_versions_name, _source), then those the release's hosts
	// hold (host_packages_pv). As one query with a correlated EXISTS,
	// PostgreSQL could hash all of host_packages.
	seen := map[int64]bool{}
	var cands []PVTuple
	const chunk = 500
	for start := 0; start < len(packages); start += chunk {
		batch := packages[start:min(start+chunk, len(packages))]
		args := make([]any, 0, 2*len(batch))
		for _, p := range batch {
			args = append(args, p)
		}
		for _, p := range batch {
			args = append(args, p)
		}
		in := placeholders(len(batch))
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT pv.id, pv.name, pv.version, pv.source, pv.source_version FROM package_versions pv
			WHERE pv.name IN (`+in+`) OR pv.source IN (`+in+`)`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			t := PVTuple{Tuple: match.Tuple{Distro: distro, Release: release}}
			if err := rows.Scan(&t.PVID, &t.Name, &t.Version, &t.Source, &t.SourceVersion); err != nil {
				rows.Close()
				return nil, err
			}
			if !seen[t.PVID] {
				seen[t.PVID] = true
				cands = append(cands, t)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	held := map[int64]bool{}
	for start := 0; start < len(cands); start += chunk {
		batch := cands[start:min(start+chunk, len(cands))]
		args := make([]any, 0, len(batch)+len(condArgs))
		for _, t := range batch {
			args = append(args, t.PVID)
		}
		args = append(args, condArgs...)
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT hp.pv_id FROM host_packages hp JOIN hosts h ON h.id = hp.host_id
			WHERE hp.pv_id IN (`+placeholders(len(batch))+`) AND `+cond), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			held[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []PVTuple
	for _, t := range cands {
		if held[t.PVID] {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b PVTuple) int { return cmp.Compare(a.PVID, b.PVID) })
	return out, nil
}

// TupleMatches is the complete match result of one tuple.
type TupleMatches struct {
	PVTuple
	Matches []match.Match
}

// TuplesApplied is what ApplyTupleMatches changed.
type TuplesApplied struct {
	Reconciled
	Tuples   int      // tuples whose match result changed
	Hosts    []string // hosts whose findings changed, sorted
	Findings []string // open findings opened, reopened or updated: to rescore
}

// ApplyTupleMatches stores the match results of tuples of one release, in
// one transaction, and for each tuple whose result changed opens, reopens,
// updates and resolves the findings of all the release's hosts carrying
// it, set-based, with their history events. fixAvailable says whether an
// offered update reaches the fixed version. A tuple no host holds any more
// is skipped.
func (s *DB) ApplyTupleMatches(ctx context.Context, distro, release string, ts []TupleMatches,
	fixAvailable func(update, fixed string) bool, now time.Time) (TuplesApplied, error) {
	var out TuplesApplied
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = TuplesApplied{}
		hosts := map[string]bool{}
		for _, t := range ts {
			changed, err := s.applyTuple(ctx, tx, distro, release, t, fixAvailable, now, &out, hosts)
			if err != nil {
				return fmt.Errorf("tuple %s %s: %w", t.Name, t.Version, err)
			}
			if changed {
				out.Tuples++
			}
		}
		for h := range hosts {
			out.Hosts = append(out.Hosts, h)
		}
		slices.Sort(out.Hosts)
		if len(out.Hosts) == 0 {
			return nil
		}
		return s.refreshReport(ctx, tx, out.Hosts)
	})
	return out, err
}

func (s *DB) applyTuple(ctx context.Context, tx *sql.Tx, distro, release string, t TupleMatches,
	fixAvailable func(update, fixed string) bool, now time.Time, out *TuplesApplied, hosts map[string]bool) (bool, error) {
	held, err := s.lockVersion(ctx, tx, t.PVID)
	if err != nil || !held {
		return false, err
	}
	// The stored result: when it is the same, no finding of this tuple
	// depends on the advisories that changed.
	var matched int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM pv_matched WHERE distro = ? AND release = ? AND pv_id = ?`),
		distro, release, t.PVID).Scan(&matched); err != nil {
		return false, err
	}
	old := map[string]string{}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT advisory_id, fixed FROM pv_matches WHERE distro = ? AND release = ? AND pv_id = ?`),
		distro, release, t.PVID)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var a, f string
		if err := rows.Scan(&a, &f); err != nil {
			rows.Close()
			return false, err
		}
		old[a] = f
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if matched > 0 && len(old) == len(t.Matches) {
		same := true
		for _, m := range t.Matches {
			if f, ok := old[m.AdvisoryID]; !ok || f != m.Fixed {
				same = false
				break
			}
		}
		if same {
			return false, nil
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM pv_matches WHERE distro = ? AND release = ? AND pv_id = ?`), distro, release, t.PVID); err != nil {
		return false, err
	}
	args := make([]any, 0, 5*len(t.Matches))
	for _, m := range t.Matches {
		args = append(args, distro, release, t.PVID, m.AdvisoryID, m.Fixed)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO pv_matches (distro, release, pv_id, advisory_id, fixed)`, 5, args); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pv_matched (distro, release, pv_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		distro, release, t.PVID); err != nil {
		return false, err
	}

	cond, condArgs := releaseHosts(distro, release)
	// The slots (host, name, arch) of the release's hosts holding the
	// tuple, as a condition on a findings row.
	// Driven from host_packages (its pv_id index) into the findings'
	// (host_id, name, arch, advisory_id) key: a correlated EXISTS let the
	// planners walk every open finding of the fleet.
	holds := `(host_id, name, arch) IN (SELECT hp.host_id, hp.name, hp.arch FROM host_packages hp JOIN hosts h ON h.id = hp.host_id
		WHERE hp.pv_id = ? AND ` + cond + `)`
	holdsArgs := append([]any{t.PVID}, condArgs...)
	var events []any
	event := func(id, kind, detail string) { events = append(events, id, ms(now), kind, detail) }

	// Updates offered to the hosts carrying the tuple, once per tuple: a
	// fixed version is compared with each distinct one in Go (the version
	// orderings are not SQL's), and the statements below test membership.
	var offered []string
	if len(t.Matches) > 0 {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT hu.version FROM host_updates hu JOIN host_packages hp ON hp.host_id = hu.host_id
			AND hp.name = hu.name AND (hu.arch = hp.arch OR hu.arch = '') WHERE hp.pv_id = ?`), t.PVID)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return false, err
			}
			offered = append(offered, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, err
		}
	}
	// avail is whether the update offered for a slot (its arch's, else
	// the arch-less one, as ReconcileFindings reads them) reaches fixed.
	avail := func(alias, fixed string) (string, []any) {
		var ok []any
		if fixed != "" {
			for _, u := range offered {
				if fixAvailable(u, fixed) {
					ok = append(ok, u)
				}
			}
		}
		if len(ok) == 0 {
			return `FALSE`, nil
		}
		return `COALESCE(COALESCE((SELECT hu.version FROM host_updates hu WHERE hu.host_id = ` + alias + `.host_id AND hu.name = ` + alias + `.name
			AND hu.arch = ` + alias + `.arch), (SELECT hu.version FROM host_updates hu WHERE hu.host_id = ` + alias + `.host_id
			AND hu.name = ` + alias + `.name AND hu.arch = '')) IN (` + placeholders(len(ok)) + `), FALSE)`, ok
	}
	collect := func(q string, args []any, fn func(id, host string, fix bool, resolution string)) error {
		rows, err := tx.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, host, res string
			var fix bool
			if err := rows.Scan(&id, &host, &fix, &res); err != nil {
				return err
			}
			hosts[host] = true
			fn(id, host, fix, res)
		}
		return rows.Err()
	}

	// A tuple matched before had its findings in line with its stored
	// result: only the advisories whose result changed need statements.
	// One never matched (new since its hosts' reconcile) gets them all.
	wanted := make([]any, 0, len(t.Matches))
	removed := matched == 0
	newIDs := make(map[string]bool, len(t.Matches))
	for _, m := range t.Matches {
		newIDs[m.AdvisoryID] = true
	}
	for id := range old {
		if !newIDs[id] {
			removed = true
		}
	}
	for _, m := range t.Matches {
		wanted = append(wanted, m.AdvisoryID)
		if f, ok := old[m.AdvisoryID]; matched > 0 && ok && f == m.Fixed {
			continue
		}
		availF, availArgs := avail("findings", m.Fixed)
		// Open findings whose installed or fixed version or fix
		// availability differ.
		q := `UPDATE findings SET installed_version = ?, fixed_version = ?, fix_available = ` + availF + `
			WHERE advisory_id = ? AND status = 'open' AND ` + holds + ` AND (installed_version <> ? OR fixed_version <> ? OR fix_available <> ` + availF + `)
			RETURNING id, host_id, fix_available, resolution`
		a := append([]any{t.Version, m.Fixed}, availArgs...)
		a = append(a, m.AdvisoryID)
		a = append(a, holdsArgs...)
		a = append(a, t.Version, m.Fixed)
		a = append(a, availArgs...)
		if err := collect(q, a, func(id, _ string, fix bool, _ string) {
			out.Updated++
			out.Findings = append(out.Findings, id)
			event(id, "updated", fmt.Sprintf("installed %s, fixed in %s, fix available: %t", t.Version, orNone(m.Fixed), fix))
		}); err != nil {
			return false, err
		}
		// Resolved findings the tuple is affected by again.
		q = `UPDATE findings SET status = 'open', resolved_at = NULL, resolution = '', reopened = reopened + 1, installed_version = ?,
			fixed_version = ?, fix_available = ` + availF + ` WHERE advisory_id = ? AND status = 'resolved' AND ` + holds + `
			RETURNING id, host_id, fix_available, resolution`
		a = append([]any{t.Version, m.Fixed}, availArgs...)
		a = append(a, m.AdvisoryID)
		a = append(a, holdsArgs...)
		if err := collect(q, a, func(id, _ string, _ bool, _ string) {
			out.Reopened++
			out.Findings = append(out.Findings, id)
			event(id, "reopened", fmt.Sprintf("%s %s is affected again", t.Name, t.Version))
		}); err != nil {
			return false, err
		}
		// Slots with no finding for the advisory yet.
		availHP, availHPArgs := avail("hp", m.Fixed)
		q = `INSERT INTO findings (id, host_id, name, arch, advisory_id, installed_version, fixed_version, fix_available, status, first_seen_at)
			SELECT ` + s.newUUID() + `, hp.host_id, hp.name, hp.arch, ?, ?, ?, ` + availHP + `, 'open', ?
			FROM host_packages hp JOIN hosts h ON h.id = hp.host_id WHERE hp.pv_id = ? AND ` + cond + `
			AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.host_id = hp.host_id AND f.name = hp.name AND f.arch = hp.arch AND f.advisory_id = ?)
			RETURNING id, host_id, fix_available, resolution`
		a = append([]any{m.AdvisoryID, t.Version, m.Fixed}, availHPArgs...)
		a = append(a, ms(now), t.PVID)
		a = append(a, condArgs...)
		a = append(a, m.AdvisoryID)
		if err := collect(q, a, func(id, _ string, _ bool, _ string) {
			out.Opened++
			out.Findings = append(out.Findings, id)
			event(id, "opened", fmt.Sprintf("%s %s affected by %s, fixed in %s", t.Name, t.Version, m.AdvisoryID, orNone(m.Fixed)))
		}); err != nil {
			return false, err
		}
	}
	// Open findings of the tuple's slots that no match wants any more.
	if !removed {
		return true, s.insertRows(ctx, tx, `INSERT INTO finding_events (finding_id, at, kind, detail)`, 4, events)
	}
	notWanted := ""
	if len(wanted) > 0 {
		notWanted = ` AND advisory_id NOT IN (` + placeholders(len(wanted)) + `)`
	}
	q := `UPDATE findings SET status = 'resolved', resolved_at = ?, resolution = CASE WHEN installed_version <> ?
			THEN name || ' upgraded from ' || installed_version || ' to ' || ? ELSE 'advisory no longer affects ' || name || ' ' || ? END
		WHERE status = 'open' AND ` + holds + notWanted + ` RETURNING id, host_id, fix_available, resolution`
	a := append([]any{ms(now), t.Version, t.Version, t.Version}, holdsArgs...)
	a = append(a, wanted...)
	if err := collect(q, a, func(id, _ string, _ bool, res string) {
		out.Resolved++
		event(id, "resolved", res)
	}); err != nil {
		return false, err
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO finding_events (finding_id, at, kind, detail)`, 4, events); err != nil {
		return false, err
	}
	return true, nil
}

// newUUID is an SQL expression for a random (version 4) UUID in the text
// form uuid.NewString gives.
func (s *DB) newUUID() string {
	if s.dialect == Postgres {
		return `gen_random_uuid()::text`
	}
	return `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
		substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`
}
