package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/match"
)

// PVTuple is an interned package version to match, with its ID.
type PVTuple struct {
	PVID int64
	match.Tuple
}

// UnmatchedTuples returns the host's package versions not yet matched for
// its release against the current advisories.
func (s *DB) UnmatchedTuples(ctx context.Context, hostID, distro, release string) ([]PVTuple, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT pv.id, pv.name, pv.version, pv.source, pv.source_version
		FROM host_packages hp JOIN package_versions pv ON pv.id = hp.pv_id
		WHERE hp.host_id = ? AND NOT EXISTS (SELECT 1 FROM pv_matched m WHERE m.distro = ? AND m.release = ? AND m.pv_id = pv.id)`),
		hostID, distro, release)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PVTuple
	for rows.Next() {
		t := PVTuple{Tuple: match.Tuple{Distro: distro, Release: release}}
		if err := rows.Scan(&t.PVID, &t.Name, &t.Version, &t.Source, &t.SourceVersion); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SaveMatches records the match results of package versions in a release.
// Versions a check-in removed meanwhile (no host holds them) are skipped.
func (s *DB) SaveMatches(ctx context.Context, distro, release string, results map[int64][]match.Match) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for pv, ms := range results {
			held, err := s.lockVersion(ctx, tx, pv)
			if err != nil {
				return err
			}
			if !held {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM pv_matches WHERE distro = ? AND release = ? AND pv_id = ?`), distro, release, pv); err != nil {
				return err
			}
			for _, m := range ms {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pv_matches (distro, release, pv_id, advisory_id, fixed) VALUES (?, ?, ?, ?, ?)`),
					distro, release, pv, m.AdvisoryID, m.Fixed); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pv_matched (distro, release, pv_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
				distro, release, pv); err != nil {
				return err
			}
		}
		return nil
	})
}

// InvalidateMatches forgets the match results of the package versions a
// changed advisory may concern, and returns the hosts that carry them so
// they are reconciled.
func (s *DB) InvalidateMatches(ctx context.Context, keys []match.Key) ([]string, error) {
	hosts := map[string]bool{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			sub := `SELECT pv.id FROM package_versions pv WHERE pv.name = ? OR pv.source = ?`
			// Hosts of that release: os-release "9.4" is release "9",
			// Alpine "3.19.1" is "3.19".
			ids, err := queryRowsOn(ctx, tx, s.q(`SELECT DISTINCT hp.host_id FROM host_packages hp JOIN hosts h ON h.id = hp.host_id
				WHERE hp.pv_id IN (`+sub+`) AND h.revoked_at IS NULL AND h.os_id = ?
				AND (h.os_version = ? OR h.os_version LIKE ? ESCAPE '\')`), scanString,
				k.Package, k.Package, k.Distro, k.Release, likeEscape(k.Release)+".%")
			if err != nil {
				return err
			}
			for _, id := range ids {
				hosts[id] = true
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM pv_matched WHERE distro = ? AND release = ? AND pv_id IN (`+sub+`)`),
				k.Distro, k.Release, k.Package, k.Package); err != nil {
				return err
			}
		}
		return nil
	})
	out := make([]string, 0, len(hosts))
	for h := range hosts {
		out = append(out, h)
	}
	return out, err
}

// Finding is one advisory affecting one installed package of one host.
type Finding struct {
	ID               string
	HostID           string
	Hostname         string
	Name, Arch       string
	AdvisoryID       string
	Summary          string
	CVEs             []string
	InstalledVersion string
	FixedVersion     string // "" when no fix is published
	FixAvailable     bool   // the host's repositories offer the fixed version or newer
	Status           string // "open" or "resolved"
	FirstSeenAt      time.Time
	ResolvedAt       *time.Time
	Resolution       string
	Reopened         int
	Severity         string
	Priority         float64
	SSVC             string
	Reasons          []string
	KEV              bool
	DueAt            *time.Time
	DueReason        string
	ExceptionID      string // an active exception accepts this finding's risk
}

// FindingEvent is one entry of a finding's history.
type FindingEvent struct {
	At     time.Time
	Kind   string // opened, resolved, reopened, updated
	Detail string
}

// Reconciled counts what one reconciliation changed.
type Reconciled struct {
	Opened, Resolved, Reopened, Updated int
}

// ReconcileFindings brings a host's findings in line with its packages and
// the stored matches: new matches open findings (or reopen resolved ones),
// vanished ones resolve with the reason (upgraded, removed, or no longer
// affected), every change lands in the finding's history. fixAvailable
// says whether an offered update reaches the fixed version.
func (s *DB) ReconcileFindings(ctx context.Context, hostID, distro, release string, fixAvailable func(update, fixed string) bool, now time.Time) (Reconciled, error) {
	return s.ReconcileFindingsCause(ctx, hostID, distro, release, fixAvailable, nil, now)
}

// ReconcileFindingsCause is ReconcileFindings where cause names what
// changed a package ("change 1234") for the resolution text; "" or a nil
// cause says nothing more.
func (s *DB) ReconcileFindingsCause(ctx context.Context, hostID, distro, release string, fixAvailable func(update, fixed string) bool,
	cause func(pkg string) string, now time.Time) (Reconciled, error) {
	var r Reconciled
	err := s.tx(ctx, func(tx *sql.Tx) error {
		type want struct{ name, arch, version, adv, fixed string }
		type slot struct{ name, arch string }
		installed := map[slot]string{}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT hp.name, hp.arch, pv.version FROM host_packages hp
			JOIN package_versions pv ON pv.id = hp.pv_id WHERE hp.host_id = ?`), hostID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var sl slot
			var v string
			if err := rows.Scan(&sl.name, &sl.arch, &v); err != nil {
				rows.Close()
				return err
			}
			installed[sl] = v
		}
		rows.Close()
		updates := map[string]string{} // name\x00arch and name\x00 → version
		rows, err = tx.QueryContext(ctx, s.q(`SELECT name, arch, version FROM host_updates WHERE host_id = ?`), hostID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n, a, v string
			if err := rows.Scan(&n, &a, &v); err != nil {
				rows.Close()
				return err
			}
			updates[n+"\x00"+a] = v
		}
		rows.Close()
		wants := map[string]want{}
		rows, err = tx.QueryContext(ctx, s.q(`SELECT hp.name, hp.arch, pv.version, pm.advisory_id, pm.fixed
			FROM host_packages hp JOIN package_versions pv ON pv.id = hp.pv_id
			JOIN pv_matches pm ON pm.pv_id = hp.pv_id AND pm.distro = ? AND pm.release = ?
			WHERE hp.host_id = ?`), distro, release, hostID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var w want
			if err := rows.Scan(&w.name, &w.arch, &w.version, &w.adv, &w.fixed); err != nil {
				rows.Close()
				return err
			}
			wants[w.name+"\x00"+w.arch+"\x00"+w.adv] = w
		}
		rows.Close()
		fixAvail := func(w want) bool {
			if w.fixed == "" {
				return false
			}
			u, ok := updates[w.name+"\x00"+w.arch]
			if !ok {
				u, ok = updates[w.name+"\x00"]
			}
			return ok && fixAvailable(u, w.fixed)
		}
		type have struct {
			id, name, arch, adv, installed, fixed, status string
			avail                                         bool
		}
		var haves []have
		rows, err = tx.QueryContext(ctx, s.q(`SELECT id, name, arch, advisory_id, installed_version, fixed_version, fix_available, status
			FROM findings WHERE host_id = ?`), hostID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h have
			if err := rows.Scan(&h.id, &h.name, &h.arch, &h.adv, &h.installed, &h.fixed, &h.avail, &h.status); err != nil {
				rows.Close()
				return err
			}
			haves = append(haves, h)
		}
		rows.Close()
		event := func(id, kind, detail string) error {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO finding_events (finding_id, at, kind, detail) VALUES (?, ?, ?, ?)`), id, ms(now), kind, detail)
			return err
		}
		for _, h := range haves {
			k := h.name + "\x00" + h.arch + "\x00" + h.adv
			w, wanted := wants[k]
			delete(wants, k)
			switch {
			case wanted && h.status == "resolved":
				r.Reopened++
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET status = 'open', resolved_at = NULL, resolution = '',
					reopened = reopened + 1, installed_version = ?, fixed_version = ?, fix_available = ? WHERE id = ?`),
					w.version, w.fixed, fixAvail(w), h.id); err != nil {
					return err
				}
				if err := event(h.id, "reopened", fmt.Sprintf("%s %s is affected again", w.name, w.version)); err != nil {
					return err
				}
			case wanted:
				avail := fixAvail(w)
				if w.version == h.installed && w.fixed == h.fixed && avail == h.avail {
					continue
				}
				r.Updated++
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET installed_version = ?, fixed_version = ?, fix_available = ? WHERE id = ?`),
					w.version, w.fixed, avail, h.id); err != nil {
					return err
				}
				detail := fmt.Sprintf("installed %s, fixed in %s, fix available: %t", w.version, orNone(w.fixed), avail)
				if err := event(h.id, "updated", detail); err != nil {
					return err
				}
			case h.status == "open":
				r.Resolved++
				v, ok := installed[slot{h.name, h.arch}]
				reason := resolutionReason(h.name, h.installed, v, ok)
				if cause != nil {
					if c := cause(h.name); c != "" {
						reason += " by " + c
					}
				}
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET status = 'resolved', resolved_at = ?, resolution = ? WHERE id = ?`),
					ms(now), reason, h.id); err != nil {
					return err
				}
				if err := event(h.id, "resolved", reason); err != nil {
					return err
				}
			}
		}
		for _, w := range wants {
			r.Opened++
			id := uuid.NewString()
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO findings (id, host_id, name, arch, advisory_id, installed_version,
				fixed_version, fix_available, status, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`),
				id, hostID, w.name, w.arch, w.adv, w.version, w.fixed, fixAvail(w), ms(now)); err != nil {
				return err
			}
			if err := event(id, "opened", fmt.Sprintf("%s %s affected by %s, fixed in %s", w.name, w.version, w.adv, orNone(w.fixed))); err != nil {
				return err
			}
		}
		if r == (Reconciled{}) {
			return nil
		}
		return s.refreshReport(ctx, tx, []string{hostID})
	})
	return r, err
}

// resolutionReason says why a finding on name at version was resolved,
// given the version installed now (installed false: none).
func resolutionReason(name, version, now string, installed bool) string {
	switch {
	case !installed:
		return "package " + name + " removed"
	case now != version:
		return fmt.Sprintf("%s upgraded from %s to %s", name, version, now)
	}
	return "advisory no longer affects " + name + " " + version
}

func orNone(s string) string {
	if s == "" {
		return "(no fix yet)"
	}
	return s
}

// ScoreInput is what scoring one open finding needs.
type ScoreInput struct {
	FindingID      string
	HostID         string
	Hostname       string
	HostnameShared bool // another active host has the hostname (Host.HostnameShared)
	AdvisoryID     string
	Severity       string   // the feed's word
	CVSS           []string // vectors
	Published      time.Time
	FirstSeenAt    time.Time
	FixAvailable   bool
	KEV            bool
	KEVDue         *time.Time
	Ransomware     bool
	EPSS           float64 // -1 unknown
	EPSSPercentile float64
	HostLabels     map[string]string // effective labels: criticality, exposure
}

// Score is a finding's priority and due date.
type Score struct {
	Severity  string
	Priority  float64
	SSVC      string
	Reasons   []string
	KEV       bool
	DueAt     *time.Time
	DueReason string
}

// Rescore recomputes the priority and due date of open findings, of one
// host or (hostID "") of all, and stores those that changed.
func (s *DB) Rescore(ctx context.Context, hostID string, score func(ScoreInput) Score) (int, error) {
	cond, args := "f.status = 'open'", []any{}
	if hostID != "" {
		cond += " AND f.host_id = ?"
		args = append(args, hostID)
	}
	return s.rescoreWhere(ctx, cond, args, score)
}

// RescoreFindings is Rescore for the open findings among ids.
func (s *DB) RescoreFindings(ctx context.Context, ids []string, score func(ScoreInput) Score) (int, error) {
	return s.rescoreIn(ctx, "f.id", ids, score)
}

// RescoreAdvisories is Rescore for the open findings of the advisories
// among ids.
func (s *DB) RescoreAdvisories(ctx context.Context, ids []string, score func(ScoreInput) Score) (int, error) {
	return s.rescoreIn(ctx, "f.advisory_id", ids, score)
}

// RescoreCVEs is Rescore for the open findings of the advisories that name
// one of cves: those whose KEV entry or EPSS score changed.
func (s *DB) RescoreCVEs(ctx context.Context, cves []string, score func(ScoreInput) Score) (int, error) {
	if len(cves) == 0 {
		return 0, nil
	}
	want := make(map[string]bool, len(cves))
	for _, c := range cves {
		want[c] = true
	}
	// The CVEs of advisories with open findings are far fewer than a KEV
	// catalog or an EPSS snapshot: read those and filter here.
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT ac.advisory_id, ac.cve FROM advisory_cves ac
		WHERE ac.advisory_id IN (SELECT f.advisory_id FROM findings f WHERE f.status = 'open')`)
	if err != nil {
		return 0, err
	}
	var ids []string
	seen := map[string]bool{}
	for rows.Next() {
		var id, cve string
		if err := rows.Scan(&id, &cve); err != nil {
			rows.Close()
			return 0, err
		}
		if want[cve] && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return s.RescoreAdvisories(ctx, ids, score)
}

func (s *DB) rescoreIn(ctx context.Context, col string, ids []string, score func(ScoreInput) Score) (int, error) {
	total := 0
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		batch := ids[start:min(start+chunk, len(ids))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		n, err := s.rescoreWhere(ctx, "f.status = 'open' AND "+col+" IN ("+placeholders(len(batch))+")", args, score)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rescoreWhere rescores the findings f that cond selects.
func (s *DB) rescoreWhere(ctx context.Context, cond string, args []any, score func(ScoreInput) Score) (int, error) {
	type kevInfo struct {
		due        int64
		ransomware bool
	}
	kev := map[string]kevInfo{}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT ac.advisory_id, MIN(k.due_date), MAX(CASE WHEN k.ransomware THEN 1 ELSE 0 END)
		FROM advisory_cves ac JOIN kev k ON k.cve = ac.cve
		WHERE ac.advisory_id IN (SELECT f.advisory_id FROM findings f WHERE `+cond+`) GROUP BY ac.advisory_id`), args...)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id string
		var ki kevInfo
		var r int
		if err := rows.Scan(&id, &ki.due, &r); err != nil {
			rows.Close()
			return 0, err
		}
		ki.ransomware = r == 1
		kev[id] = ki
	}
	rows.Close()
	type epssInfo struct{ score, pct float64 }
	epss := map[string]epssInfo{}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT ac.advisory_id, MAX(e.score), MAX(e.percentile)
		FROM advisory_cves ac JOIN epss e ON e.cve = ac.cve
		WHERE ac.advisory_id IN (SELECT f.advisory_id FROM findings f WHERE `+cond+`) GROUP BY ac.advisory_id`), args...)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id string
		var e epssInfo
		if err := rows.Scan(&id, &e.score, &e.pct); err != nil {
			rows.Close()
			return 0, err
		}
		epss[id] = e
	}
	rows.Close()

	type cur struct {
		in                        ScoreInput
		sev, ssvc, reasons, dueRs string
		prio                      float64
		kev                       bool
		due                       sql.NullInt64
	}
	var all []cur
	labelsByHost := map[string]map[string]string{}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT f.id, f.host_id, h.hostname, f.advisory_id, a.severity, a.cvss, a.published, f.first_seen_at,
			f.fix_available, f.severity, f.priority, f.ssvc, f.reasons, f.kev, f.due_at, f.due_reason, h.labels, h.user_labels,
			(SELECT COUNT(*) FROM hosts d WHERE d.hostname = h.hostname AND d.id <> h.id AND d.revoked_at IS NULL) > 0
		FROM findings f JOIN advisories a ON a.id = f.advisory_id JOIN hosts h ON h.id = f.host_id WHERE `+cond), args...)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var c cur
		var hostID, cvss, labels, user string
		var pub, first int64
		if err := rows.Scan(&c.in.FindingID, &hostID, &c.in.Hostname, &c.in.AdvisoryID, &c.in.Severity, &cvss, &pub, &first, &c.in.FixAvailable,
			&c.sev, &c.prio, &c.ssvc, &c.reasons, &c.kev, &c.due, &c.dueRs, &labels, &user, &c.in.HostnameShared); err != nil {
			rows.Close()
			return 0, err
		}
		c.in.Published, c.in.FirstSeenAt = fromMS(pub), fromMS(first)
		if err := json.Unmarshal([]byte(cvss), &c.in.CVSS); err != nil {
			rows.Close()
			return 0, err
		}
		hl, ok := labelsByHost[hostID]
		if !ok {
			var h Host
			_ = json.Unmarshal([]byte(labels), &h.Labels)
			_ = json.Unmarshal([]byte(user), &h.UserLabels)
			hl = h.EffectiveLabels()
			labelsByHost[hostID] = hl
		}
		c.in.HostLabels, c.in.HostID = hl, hostID
		if k, ok := kev[c.in.AdvisoryID]; ok {
			c.in.KEV, c.in.Ransomware = true, k.ransomware
			d := fromMS(k.due)
			c.in.KEVDue = &d
		}
		c.in.EPSS, c.in.EPSSPercentile = -1, -1
		if e, ok := epss[c.in.AdvisoryID]; ok {
			c.in.EPSS, c.in.EPSSPercentile = e.score, e.pct
		}
		all = append(all, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	changed := 0
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var hosts []string
		var rows []any
		for _, c := range all {
			sc := score(c.in)
			reasons, _ := json.Marshal(nonNilSlice(sc.Reasons))
			due := msPtr(sc.DueAt)
			if sc.Severity == c.sev && sc.Priority == c.prio && sc.SSVC == c.ssvc && string(reasons) == c.reasons &&
				sc.KEV == c.kev && due == c.due && sc.DueReason == c.dueRs {
				continue
			}
			changed++
			rows = append(rows, c.in.FindingID, sc.Severity, sc.Priority, sc.SSVC, string(reasons), sc.KEV, due, sc.DueReason)
			hosts = append(hosts, c.in.HostID)
		}
		if err := s.updateScores(ctx, tx, rows); err != nil {
			return err
		}
		return s.refreshReport(ctx, tx, hosts)
	})
	return changed, err
}

// updateScores writes new scores, 8 values a finding (id, severity,
// priority, ssvc, reasons, kev, due_at, due_reason), in one UPDATE … FROM
// VALUES per batchRows findings: a statement per finding is a round trip
// each on PostgreSQL.
func (s *DB) updateScores(ctx context.Context, tx *sql.Tx, rows []any) error {
	const cols = 8
	// VALUES columns are column1 … column8 on both databases; the casts
	// give PostgreSQL their types.
	row := `(?, ?, CAST(? AS DOUBLE PRECISION), ?, ?, CAST(? AS BOOLEAN), CAST(? AS BIGINT), ?)`
	for start := 0; start < len(rows); start += batchRows * cols {
		end := min(start+batchRows*cols, len(rows))
		n := (end - start) / cols
		q := `UPDATE findings SET severity = v.column2, priority = v.column3, ssvc = v.column4, reasons = v.column5, kev = v.column6,
			due_at = v.column7, due_reason = v.column8
			FROM (VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + `) AS v WHERE findings.id = v.column1`
		if _, err := tx.ExecContext(ctx, s.q(q), rows[start:end]...); err != nil {
			return fmt.Errorf("update scores: %w", err)
		}
	}
	return nil
}

// FindingFilter selects findings. Zero fields do not filter.
type FindingFilter struct {
	HostID     string
	AdvisoryID string
	Status     string // "open" (default), "resolved", "all"
	Severity   string // "unknown": findings whose severity is not known
	KEV        *bool
	Overdue    *time.Time // open and due before this time
	Excepted   *bool      // covered by an active exception, or not
	Labels     map[string]string
	Limit      int
	After      string
}

// ListFindings returns findings by priority, highest first, and the next
// page token.
func (s *DB) ListFindings(ctx context.Context, f FindingFilter) ([]Finding, string, error) {
	conds, args, err := s.findingConds(f)
	if err != nil {
		return nil, "", err
	}
	if f.After != "" {
		p, id, err := decodeFindingCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		conds = append(conds, "(f.priority < ? OR (f.priority = ? AND f.id > ?))")
		args = append(args, p, p, id)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit+1)
	// LEFT JOIN: the findings of a deleted feed's advisories stay listed
	// (resolved) with their history.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT f.id, f.host_id, h.hostname, f.name, f.arch, f.advisory_id, COALESCE(a.summary, ''),
			f.installed_version, f.fixed_version, f.fix_available, f.status, f.first_seen_at, f.resolved_at, f.resolution, f.reopened,
			f.severity, f.priority, f.ssvc, f.reasons, f.kev, f.due_at, f.due_reason, f.exception_id
		FROM findings f JOIN hosts h ON h.id = f.host_id LEFT JOIN advisories a ON a.id = f.advisory_id
		WHERE `+strings.Join(conds, " AND ")+` ORDER BY f.priority DESC, f.id LIMIT ?`), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []Finding
	for rows.Next() {
		var x Finding
		var first int64
		var resolved, due sql.NullInt64
		var reasons string
		if err := rows.Scan(&x.ID, &x.HostID, &x.Hostname, &x.Name, &x.Arch, &x.AdvisoryID, &x.Summary, &x.InstalledVersion,
			&x.FixedVersion, &x.FixAvailable, &x.Status, &first, &resolved, &x.Resolution, &x.Reopened, &x.Severity, &x.Priority,
			&x.SSVC, &reasons, &x.KEV, &due, &x.DueReason, &x.ExceptionID); err != nil {
			return nil, "", err
		}
		x.FirstSeenAt, x.ResolvedAt, x.DueAt = fromMS(first), fromMSPtr(resolved), fromMSPtr(due)
		if err := json.Unmarshal([]byte(reasons), &x.Reasons); err != nil {
			return nil, "", err
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatFloat(last.Priority, 'g', -1, 64) + "\x00" + last.ID))
	}
	// One query per advisory, not per finding: a page often holds one
	// advisory's findings on many hosts.
	cvesOf := map[string][]string{}
	for i := range out {
		cves, ok := cvesOf[out[i].AdvisoryID]
		if !ok {
			var err error
			if cves, err = s.advisoryCVEs(ctx, out[i].AdvisoryID); err != nil {
				return nil, "", err
			}
			cvesOf[out[i].AdvisoryID] = cves
		}
		out[i].CVEs = cves
	}
	return out, next, nil
}

// ErrBadFilter is a filter value the store does not know.
var ErrBadFilter = errors.New("invalid filter")

func decodeFindingCursor(s string) (float64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	p, id, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return 0, "", ErrBadCursor
	}
	v, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	return v, id, nil
}

func (s *DB) advisoryCVEs(ctx context.Context, id string) ([]string, error) {
	return s.queryStrings(ctx, `SELECT cve FROM advisory_cves WHERE advisory_id = ? ORDER BY cve`, id)
}

// queryStrings runs a query of one text column and returns its rows.
func (s *DB) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	return queryRows(ctx, s, query, scanString, args...)
}

func scanString(row interface{ Scan(...any) error }) (string, error) {
	var v string
	err := row.Scan(&v)
	return v, err
}

// queryRows runs a query (with ? placeholders) and scans every row with
// scan.
func queryRows[T any](ctx context.Context, s *DB, query string, scan func(interface{ Scan(...any) error }) (T, error), args ...any) ([]T, error) {
	return queryRowsOn(ctx, s.db, s.q(query), scan, args...)
}

// queryRowsOn is queryRows on db or a transaction, with the query already
// in the dialect's placeholders.
func queryRowsOn[T any](ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, scan func(interface{ Scan(...any) error }) (T, error), args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FindingHistory returns a finding's events, oldest first.
func (s *DB) FindingHistory(ctx context.Context, id string) ([]FindingEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, kind, detail FROM finding_events WHERE finding_id = ? ORDER BY at, kind`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FindingEvent
	for rows.Next() {
		var e FindingEvent
		var at int64
		if err := rows.Scan(&at, &e.Kind, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ActiveHostReleases lists active hosts with their OS, for full matching.
func (s *DB) ActiveHostReleases(ctx context.Context) (map[string][2]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, os_id, os_version FROM hosts WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var id, o, v string
		if err := rows.Scan(&id, &o, &v); err != nil {
			return nil, err
		}
		out[id] = [2]string{o, v}
	}
	return out, rows.Err()
}

// FindingCounts are the fleet's open findings by severity, with how many
// are overdue and how many an exception accepts.
type FindingCounts struct {
	BySeverity map[string]int
	Overdue    int
	Excepted   int
	KEV        int
}

// CountOpenFindings counts the open findings of active hosts.
func (s *DB) CountOpenFindings(ctx context.Context, now time.Time) (FindingCounts, error) {
	c := FindingCounts{BySeverity: map[string]int{}}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT f.severity, COUNT(*),
			SUM(CASE WHEN f.due_at IS NOT NULL AND f.due_at < ? THEN 1 ELSE 0 END),
			SUM(CASE WHEN f.exception_id <> '' THEN 1 ELSE 0 END),
			SUM(CASE WHEN f.kev THEN 1 ELSE 0 END)
		FROM findings f JOIN hosts h ON h.id = f.host_id
		WHERE f.status = 'open' AND h.revoked_at IS NULL GROUP BY f.severity`), ms(now))
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var sev string
		var n, overdue, excepted, kev int
		if err := rows.Scan(&sev, &n, &overdue, &excepted, &kev); err != nil {
			return c, err
		}
		if sev == "" {
			sev = "unknown"
		}
		c.BySeverity[sev] += n
		c.Overdue += overdue
		c.Excepted += excepted
		c.KEV += kev
	}
	return c, rows.Err()
}
