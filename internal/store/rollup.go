package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Roll-ups group the open findings of active hosts by advisory, by host or
// by package, and count them. They are read-only and one query each (plus
// one for the total), so a page of a 200,000-finding fleet costs one
// grouped scan. Every count is of distinct things: "hosts" is how many
// distinct hosts carry at least one such finding, never a finding count.

// RollupBy names what a roll-up groups by.
type RollupBy string

// The three roll-ups.
const (
	ByAdvisory RollupBy = "advisory"
	ByHost     RollupBy = "host"
	ByPackage  RollupBy = "package"
)

// RollupFilter selects the open findings of active hosts a roll-up counts.
// Zero fields do not filter.
type RollupFilter struct {
	// HostIDs limits to these hosts; nil: every host, empty: none.
	HostIDs []string
	// Severity is critical, high, medium, low, none, or unknown (findings
	// whose severity is not known).
	Severity     string
	KEV          *bool
	FixAvailable *bool
	Excepted     *bool
	Overdue      bool // only findings due before Now
	Labels       map[string]string
	AdvisoryID   string
	Package      string
	// Now decides which findings are overdue.
	Now time.Time
	// Sort is a column of the roll-up (RollupColumns); "" sorts by
	// priority. Order is "asc" or "desc"; "" is the column's natural
	// order: numbers largest first, due dates soonest first, names A to Z.
	Sort  string
	Order string
	Limit int
	After string // the cursor of the previous page
}

// Rollup is one group of open findings.
type Rollup struct {
	Key      string // advisory ID, host ID or package name
	Hostname string // ByHost only
	Summary  string // ByAdvisory only
	Severity string // ByAdvisory: the advisory's effective severity ("" unknown)

	Priority    float64 // the highest priority among the findings
	Findings    int     // open findings
	Excepted    int     // of which an active exception accepts the risk
	Hosts       int     // distinct hosts (ByHost: 1)
	Advisories  int     // distinct advisories (ByAdvisory: 1)
	FixHosts    int     // distinct hosts whose repositories offer a fix (ByHost: 1 or 0)
	FixFindings int     // findings whose fix the host's repositories offer
	KEVFindings int     // findings of an advisory in CISA KEV
	Overdue     int     // findings past their due date
	EPSS        float64 // the highest EPSS score; -1 unknown
	DueAt       *time.Time
}

// RollupColumns are the sortable columns of each roll-up; the first sorts
// by default.
var RollupColumns = map[RollupBy][]string{
	ByAdvisory: {"priority", "hosts", "findings", "excepted", "fix_hosts", "kev", "overdue", "epss", "due", "advisory"},
	ByHost:     {"priority", "advisories", "findings", "excepted", "fix_findings", "kev", "overdue", "due", "hostname"},
	ByPackage:  {"priority", "hosts", "advisories", "findings", "excepted", "fix_hosts", "kev", "overdue", "epss", "due", "package"},
}

// noDue sorts findings without a due date after every dated one.
const noDue = int64(9_000_000_000_000_000)

// activeHost is rollupConds' "h.revoked_at IS NULL" without the join to
// hosts.
const activeHost = "f.host_id NOT IN (SELECT id FROM hosts WHERE revoked_at IS NOT NULL)"

// rollupConds is the WHERE clause and its arguments for f.
func (s *DB) rollupConds(f RollupFilter) ([]string, []any) {
	conds, args := []string{"f.status = 'open'", "h.revoked_at IS NULL"}, []any{}
	if f.HostIDs != nil {
		if len(f.HostIDs) == 0 {
			conds = append(conds, "1 = 0")
		} else {
			conds = append(conds, "f.host_id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.HostIDs)), ", ")+")")
			for _, id := range f.HostIDs {
				args = append(args, id)
			}
		}
	}
	if c, a := severityCond(f.Severity); c != "" {
		conds, args = append(conds, c), append(args, a...)
	}
	if f.KEV != nil {
		conds, args = append(conds, "f.kev = ?"), append(args, *f.KEV)
	}
	if f.FixAvailable != nil {
		conds, args = append(conds, "f.fix_available = ?"), append(args, *f.FixAvailable)
	}
	if f.Excepted != nil {
		if *f.Excepted {
			conds = append(conds, "f.exception_id <> ''")
		} else {
			conds = append(conds, "f.exception_id = ''")
		}
	}
	if f.Overdue {
		conds, args = append(conds, "f.due_at IS NOT NULL AND f.due_at < ?"), append(args, ms(f.Now))
	}
	for k, v := range f.Labels {
		conds = append(conds, "EXISTS (SELECT 1 FROM host_labels l WHERE l.host_id = f.host_id AND l.key = ? AND l.value = ?)")
		args = append(args, k, v)
	}
	if f.AdvisoryID != "" {
		conds, args = append(conds, "f.advisory_id = ?"), append(args, f.AdvisoryID)
	}
	if f.Package != "" {
		conds, args = append(conds, "f.name = ?"), append(args, f.Package)
	}
	return conds, args
}

// severityCond filters by a severity word; "unknown" is the findings the
// scorer could not rate, stored as "".
func severityCond(sev string) (string, []any) {
	switch sev {
	case "":
		return "", nil
	case "unknown":
		return "f.severity IN ('', 'unknown')", nil
	}
	return "f.severity = ?", []any{sev}
}

// rollupCursor is where a page ended: the sort column and direction, the
// last group's value in it (V for numbers, T for hostnames) and its key.
type rollupCursor struct {
	Sort string  `json:"s"`
	Asc  bool    `json:"a,omitempty"`
	V    float64 `json:"v,omitempty"`
	T    string  `json:"t,omitempty"`
	K    string  `json:"k"`
}

// FindingRollup returns a page of open findings grouped by by, the cursor
// of the next page ("" on the last), and how many groups match in all.
// Paging with the cursor visits every group exactly once while the
// findings do not change.
func (s *DB) FindingRollup(ctx context.Context, by RollupBy, f RollupFilter) ([]Rollup, string, int, error) {
	cols, ok := RollupColumns[by]
	if !ok {
		return nil, "", 0, fmt.Errorf("%w: roll-up by %q (want advisory, host or package)", ErrBadFilter, by)
	}
	sort := f.Sort
	if sort == "" {
		sort = cols[0]
	}
	known := false
	for _, c := range cols {
		known = known || c == sort
	}
	if !known {
		return nil, "", 0, fmt.Errorf("%w: sort %q (want one of %s)", ErrBadFilter, sort, strings.Join(cols, ", "))
	}
	keyCol := cols[len(cols)-1]
	// Advisory IDs and package names are the groups' keys; hostnames may
	// repeat, so they page on (hostname, host ID).
	textSort := sort == keyCol && by != ByHost
	conds, condArgs := s.rollupConds(f)
	where := strings.Join(conds, " AND ")

	// Each roll-up counts only what it shows: a COUNT(DISTINCT …) costs a
	// sort of the matching findings.
	var group, keyExpr, nameExpr, extra, hosts, advisories, fixHosts string
	epssJoin := ` LEFT JOIN (SELECT ac.advisory_id AS aid, MAX(e.score) AS score FROM advisory_cves ac JOIN epss e ON e.cve = ac.cve
		GROUP BY ac.advisory_id) ae ON ae.aid = f.advisory_id`
	epss := `COALESCE(MAX(ae.score), -1)`
	switch by {
	case ByAdvisory:
		group, keyExpr, nameExpr = "f.advisory_id", "f.advisory_id", "''"
		hosts, advisories, fixHosts = "COUNT(DISTINCT f.host_id)", "1", "COUNT(DISTINCT CASE WHEN f.fix_available THEN f.host_id END)"
		extra = `COALESCE((SELECT a.summary FROM advisories a WHERE a.id = g.k), '')`
	case ByHost:
		group, keyExpr, nameExpr = "f.host_id, h.hostname", "f.host_id", "h.hostname"
		hosts, advisories, fixHosts = "1", "COUNT(DISTINCT f.advisory_id)", "MAX(CASE WHEN f.fix_available THEN 1 ELSE 0 END)"
		extra, epssJoin, epss = `''`, "", "-1"
	case ByPackage:
		group, keyExpr, nameExpr = "f.name", "f.name", "''"
		hosts, advisories, fixHosts = "COUNT(DISTINCT f.host_id)", "COUNT(DISTINCT f.advisory_id)", "COUNT(DISTINCT CASE WHEN f.fix_available THEN f.host_id END)"
		extra = `''`
	}
	// A page costs two queries. The first groups every matching finding
	// but computes only the sort column, so it reads one narrow index
	// (migration 00027 covers the advisory and package groupings) and
	// counts the groups; the second computes every column, EPSS and the
	// distinct counts only for the page's keys.
	sortExpr := "r.v"
	switch sort {
	case "advisory", "package":
		sortExpr = "r.k"
	case "hostname":
		sortExpr = "r.hostname"
	}
	var sortCol string
	var sortArgs []any
	sortJoin := ""
	switch sort {
	case "priority":
		sortCol = "MAX(f.priority)"
	case "findings":
		sortCol = "COUNT(*)"
	case "excepted":
		sortCol = "SUM(CASE WHEN f.exception_id <> '' THEN 1 ELSE 0 END)"
	case "hosts":
		sortCol = hosts
	case "advisories":
		sortCol = advisories
	case "fix_hosts":
		sortCol = fixHosts
	case "fix_findings":
		sortCol = "SUM(CASE WHEN f.fix_available THEN 1 ELSE 0 END)"
	case "kev":
		sortCol = "SUM(CASE WHEN f.kev THEN 1 ELSE 0 END)"
	case "overdue":
		sortCol, sortArgs = "SUM(CASE WHEN f.due_at IS NOT NULL AND f.due_at < ? THEN 1 ELSE 0 END)", []any{ms(f.Now)}
	case "due":
		sortCol, sortArgs = "COALESCE(MIN(f.due_at), ?)", []any{noDue}
	case "epss":
		sortCol, sortJoin = epss, epssJoin
	default: // the key or the hostname
		sortCol = "0"
	}
	// Numbers sort largest first, except due dates (soonest first); names
	// sort A to Z.
	asc := sort == keyCol || sort == "due"
	switch f.Order {
	case "asc":
		asc = true
	case "desc":
		asc = false
	case "":
	default:
		return nil, "", 0, fmt.Errorf("%w: order %q (want asc or desc)", ErrBadFilter, f.Order)
	}
	dir, cmpOp := "DESC", "<"
	if asc {
		dir, cmpOp = "ASC", ">"
	}
	args := append(append([]any{}, sortArgs...), condArgs...)
	outerConds := []string{}
	if f.After != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.After)
		var c rollupCursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.Sort != sort || c.Asc != asc {
			return nil, "", 0, ErrBadCursor
		}
		switch {
		case textSort:
			outerConds, args = append(outerConds, "r.k "+cmpOp+" ?"), append(args, c.K)
		case sort == "hostname":
			// Hostnames may repeat: page on (hostname, host ID).
			outerConds = append(outerConds, "(r.hostname "+cmpOp+" ? OR (r.hostname = ? AND r.k > ?))")
			args = append(args, c.T, c.T, c.K)
		default:
			outerConds = append(outerConds, "("+sortExpr+" "+cmpOp+" CAST(? AS DOUBLE PRECISION) OR ("+sortExpr+
				" = CAST(? AS DOUBLE PRECISION) AND r.k > ?))")
			args = append(args, c.V, c.V, c.K)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit+1)
	// Joining every finding to its host costs more than the grouping: the
	// first query skips the revoked hosts by a list of them instead (a
	// finding's host always exists: the foreign key cascades), and reads
	// hostnames only to sort by them.
	from1, where1, group1, name1 := "findings f", strings.Join(append([]string{conds[0], activeHost}, conds[2:]...), " AND "), group, nameExpr
	if by == ByHost && sort != "hostname" {
		group1, name1 = "f.host_id", "''"
	}
	if name1 != "''" {
		from1, where1 = "findings f JOIN hosts h ON h.id = f.host_id", where
	}
	// g, the groups, is named twice (the page and the total): PostgreSQL
	// and SQLite then compute it once.
	query := `WITH g AS (SELECT ` + keyExpr + ` AS k, ` + name1 + ` AS hostname, ` + sortCol + ` AS v
		FROM ` + from1 + sortJoin + ` WHERE ` + where1 + ` GROUP BY ` + group1 + `)
		SELECT r.k, r.hostname, r.v, (SELECT COUNT(*) FROM g) FROM g r`
	if len(outerConds) > 0 {
		query += ` WHERE ` + strings.Join(outerConds, " AND ")
	}
	order := sortExpr + " " + dir
	if !textSort {
		order += ", r.k"
	}
	query += ` ORDER BY ` + order + ` LIMIT ?`
	type pageKey struct {
		k, hostname string
		v           float64
	}
	var keys []pageKey
	total := -1
	if err := func() error {
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p pageKey
			if err := rows.Scan(&p.k, &p.hostname, &p.v, &total); err != nil {
				return err
			}
			keys = append(keys, p)
		}
		return rows.Err()
	}(); err != nil {
		return nil, "", 0, err
	}
	if total < 0 { // an empty page: count apart
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 AS one FROM `+from1+`
			WHERE `+where1+` GROUP BY `+group1+`) t`), condArgs...).Scan(&total); err != nil {
			return nil, "", 0, err
		}
		return nil, "", total, nil
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		last := keys[limit-1]
		b, _ := json.Marshal(rollupCursor{Sort: sort, Asc: asc, K: last.k, T: last.hostname, V: last.v})
		next = base64.RawURLEncoding.EncodeToString(b)
	}

	// Every column, for the page's keys only.
	at := make(map[string]int, len(keys))
	args = append([]any{ms(f.Now), noDue}, condArgs...)
	for i, p := range keys {
		at[p.k] = i
		args = append(args, p.k)
	}
	from2, pageWhere := "findings f", where1
	if by == ByHost {
		from2, pageWhere = "findings f JOIN hosts h ON h.id = f.host_id", where
	}
	pageWhere += ` AND ` + keyExpr + ` IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ") + `)`
	query = `WITH g AS (SELECT ` + keyExpr + ` AS k, ` + nameExpr + ` AS hostname, MAX(f.severity) AS severity, MAX(f.priority) AS priority,
			COUNT(*) AS findings, SUM(CASE WHEN f.exception_id <> '' THEN 1 ELSE 0 END) AS excepted,
			` + hosts + ` AS hosts, ` + advisories + ` AS advisories, ` + fixHosts + ` AS fix_hosts,
			SUM(CASE WHEN f.fix_available THEN 1 ELSE 0 END) AS fix_findings,
			SUM(CASE WHEN f.kev THEN 1 ELSE 0 END) AS kev,
			SUM(CASE WHEN f.due_at IS NOT NULL AND f.due_at < ? THEN 1 ELSE 0 END) AS overdue,
			COALESCE(MIN(f.due_at), ?) AS due, ` + epss + ` AS epss
		FROM ` + from2 + epssJoin + ` WHERE ` + pageWhere + ` GROUP BY ` + group + `)
		SELECT r.k, r.hostname, r.summary, r.severity, r.priority, r.findings, r.excepted, r.hosts,
		r.advisories, r.fix_hosts, r.fix_findings, r.kev, r.overdue, r.epss, r.due FROM (SELECT g.*, ` + extra + ` AS summary FROM g) r`
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, "", 0, err
	}
	defer rows.Close()
	out := make([]Rollup, len(keys))
	for rows.Next() {
		var r Rollup
		var due int64
		if err := rows.Scan(&r.Key, &r.Hostname, &r.Summary, &r.Severity, &r.Priority, &r.Findings, &r.Excepted, &r.Hosts,
			&r.Advisories, &r.FixHosts, &r.FixFindings, &r.KEVFindings, &r.Overdue, &r.EPSS, &due); err != nil {
			return nil, "", 0, err
		}
		if due != noDue {
			d := fromMS(due)
			r.DueAt = &d
		}
		if i, ok := at[r.Key]; ok {
			out[i] = r
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", 0, err
	}
	// A group whose findings closed between the two queries is left out.
	out = slices.DeleteFunc(out, func(r Rollup) bool { return r.Key == "" })
	return out, next, total, nil
}

// OpenFindingsByHost counts the open findings of each of the given hosts
// (hosts without any are absent from the map).
func (s *DB) OpenFindingsByHost(ctx context.Context, hostIDs []string) (map[string]int, error) {
	out := map[string]int{}
	if len(hostIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(hostIDs))
	for i, id := range hostIDs {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT host_id, COUNT(*) FROM findings WHERE status = 'open' AND host_id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(hostIDs)), ", ")+`) GROUP BY host_id`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// CountFindings counts the findings f selects, ignoring its Limit and
// After: the "total" of a paged list. Its conditions are ListFindings'.
func (s *DB) CountFindings(ctx context.Context, f FindingFilter) (int, error) {
	return s.CountFindingsUpTo(ctx, f, 0)
}

// CountFindingsUpTo is CountFindings that stops counting past max (0: no
// bound), for pages that must stay fast on a large fleet: it returns
// max+1 when more match.
func (s *DB) CountFindingsUpTo(ctx context.Context, f FindingFilter, max int) (int, error) {
	conds, args, err := s.findingConds(f)
	if err != nil {
		return 0, err
	}
	// No join to hosts: activeHost skips the revoked ones, so the count can
	// read one of migration 00027's covering indexes alone.
	conds[0] = activeHost // findingConds' "h.revoked_at IS NULL"
	q := `SELECT COUNT(*) FROM findings f WHERE ` + strings.Join(conds, " AND ")
	if max > 0 {
		q = `SELECT COUNT(*) FROM (SELECT 1 AS one FROM findings f WHERE ` +
			strings.Join(conds, " AND ") + ` LIMIT ?) t`
		args = append(args, max+1)
	}
	var n int
	err = s.db.QueryRowContext(ctx, s.q(q), args...).Scan(&n)
	return n, err
}

// findingConds is the WHERE clause and its arguments for the findings f
// selects, leaving out its page (Limit, After): ListFindings' and
// CountFindingsUpTo's. Its first condition is the host's (CountFindingsUpTo
// replaces it).
func (s *DB) findingConds(f FindingFilter) ([]string, []any, error) {
	conds, args := []string{"h.revoked_at IS NULL"}, []any{}
	switch f.Status {
	case "", "open":
		conds = append(conds, "f.status = 'open'")
	case "resolved":
		conds = append(conds, "f.status = 'resolved'")
	case "all":
	default:
		return nil, nil, fmt.Errorf("%w: status %q", ErrBadFilter, f.Status)
	}
	rf := RollupFilter{KEV: f.KEV, Excepted: f.Excepted, Labels: f.Labels, AdvisoryID: f.AdvisoryID, Severity: f.Severity}
	if f.HostID != "" {
		rf.HostIDs = []string{f.HostID}
	}
	rc, ra := s.rollupConds(rf)
	conds, args = append(conds, rc[2:]...), append(args, ra...) // rc[:2]: open, active
	if f.Overdue != nil {
		conds, args = append(conds, "f.status = 'open' AND f.due_at IS NOT NULL AND f.due_at < ?"), append(args, ms(*f.Overdue))
	}
	return conds, args, nil
}
