package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The KPI report reads every finding the fleet ever had (a year of history
// at 10,000 hosts is hundreds of thousands of rows, and the SQL drivers
// spend microseconds per row). So the store keeps, per host, one
// report_hosts row holding the report fields of all of that host's
// findings packed into one value, and the report reads one row per host.
//
// Invariant: a host's report row is rewritten from its findings rows in
// the same transaction as every write to those rows (ReconcileFindings,
// Rescore, ApplyExceptions; LoadFleet for benchmarks), as the last step of
// that transaction. Findings rows are never deleted except with their host,
// and the report row goes with the host too. On PostgreSQL, where several
// writers may touch one host's findings at once, refreshReport locks the
// host's report row before it reads the findings: under READ COMMITTED
// that read then sees every transaction that refreshed the row before, so
// the last refresh to commit always packs every committed change.

// ReportFinding is a finding with what reports need.
type ReportFinding struct {
	ID, HostID, Name, Severity  string
	KEV, FixAvailable, Excepted bool
	Priority                    float64
	Published, FirstSeen        time.Time
	ResolvedAt, DueAt           *time.Time
}

// AllFindings streams every finding, open or resolved, with its
// advisory's publication time; see ReadReportFindings.
func (s *DB) AllFindings(ctx context.Context, fn func(ReportFinding) error) error {
	r, err := s.ReadReportFindings(ctx)
	if err != nil {
		return err
	}
	return r.Each(fn)
}

// ReportFindings is every finding of the fleet as the report rows hold
// them, read in one go; Len says how many there are before Each decodes
// them.
type ReportFindings struct {
	hosts, packed []string
	published     map[string]int64
	n             int
}

// ReadReportFindings reads the packed per-host report rows (and the
// advisories' publication times, from one small query). The caller skips
// revoked hosts.
func (s *DB) ReadReportFindings(ctx context.Context) (*ReportFindings, error) {
	r := &ReportFindings{published: map[string]int64{}}
	rows, err := s.db.QueryContext(ctx, `SELECT id, published FROM advisories`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return nil, err
		}
		r.published[id] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT host_id, findings FROM report_hosts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var packed []byte
	for rows.Next() {
		var hostID string
		if err := rows.Scan(&hostID, &packed); err != nil {
			return nil, err
		}
		p := string(packed) // the findings' strings share this copy
		n, err := packedCount(p)
		if err != nil {
			return nil, fmt.Errorf("report row of host %s: %w", hostID, err)
		}
		r.hosts, r.packed, r.n = append(r.hosts, hostID), append(r.packed, p), r.n+n
	}
	return r, rows.Err()
}

// Len is the number of findings.
func (r *ReportFindings) Len() int { return r.n }

// Each calls fn with every finding, host by host, each host's in ID order.
func (r *ReportFindings) Each(fn func(ReportFinding) error) error {
	for i, p := range r.packed {
		hostID := r.hosts[i]
		// The host's resolved and due times live in one slice: two
		// allocations fewer per finding.
		n, _ := packedCount(p)
		times := make([]time.Time, 0, 2*n)
		at := func(v sql.NullInt64) *time.Time {
			if !v.Valid || len(times) == cap(times) {
				return fromMSPtr(v)
			}
			times = append(times, fromMS(v.Int64))
			return &times[len(times)-1]
		}
		err := unpackReportFindings(p, func(f packedFinding) error {
			return fn(ReportFinding{ID: f.id, HostID: hostID, Name: f.name, Severity: f.severity, KEV: f.kev,
				FixAvailable: f.fixAvailable, Excepted: f.excepted, Priority: f.priority,
				Published: fromMS(r.published[f.advisoryID]), FirstSeen: fromMS(f.firstSeen), ResolvedAt: at(f.resolvedAt), DueAt: at(f.dueAt)})
		})
		if err != nil {
			return fmt.Errorf("report row of host %s: %w", hostID, err)
		}
	}
	return nil
}

// ReportHost is an active host as reports see it.
type ReportHost struct {
	ID, Hostname string
	Labels       map[string]string // effective: the agent's overlaid by the user's
}

// ReportHosts lists the active (unrevoked) hosts by hostname and ID, with
// only what reports need (ListHosts also decodes every host's facts).
func (s *DB) ReportHosts(ctx context.Context) ([]ReportHost, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, hostname, labels, user_labels FROM hosts WHERE revoked_at IS NULL ORDER BY hostname, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReportHost
	for rows.Next() {
		var h ReportHost
		var labels, user []byte
		if err := rows.Scan(&h.ID, &h.Hostname, &labels, &user); err != nil {
			return nil, err
		}
		// The user's labels decode over the agent's into one map: the
		// effective labels, as Host.EffectiveLabels makes them.
		h.Labels = map[string]string{}
		for _, l := range [][]byte{labels, user} {
			if err := json.Unmarshal(l, &h.Labels); err != nil {
				return nil, fmt.Errorf("host %s: stored labels: %w", h.ID, err)
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// packedFinding is one finding's report fields as a report row holds them.
type packedFinding struct {
	id, name, advisoryID, severity string
	kev, fixAvailable, excepted    bool
	priority                       float64
	firstSeen                      int64 // Unix ms, as stored
	resolvedAt, dueAt              sql.NullInt64
}

// reportFormat is the first byte of a packed report row.
const reportFormat = 1

const (
	packedKEV = 1 << iota
	packedFixAvailable
	packedExcepted
	packedResolved
	packedDue
)

// packReportFindings encodes findings: the format byte, a count, then per
// finding four length-prefixed strings, a flags byte, the priority's IEEE
// 754 bits and the times as varints (resolved and due only when set).
func packReportFindings(fs []packedFinding) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(fs)*96)
	b = append(b, reportFormat)
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		for _, str := range []string{f.id, f.name, f.advisoryID, f.severity} {
			b = binary.AppendUvarint(b, uint64(len(str)))
			b = append(b, str...)
		}
		var flags byte
		for _, bit := range [...]struct {
			on   bool
			flag byte
		}{{f.kev, packedKEV}, {f.fixAvailable, packedFixAvailable}, {f.excepted, packedExcepted},
			{f.resolvedAt.Valid, packedResolved}, {f.dueAt.Valid, packedDue}} {
			if bit.on {
				flags |= bit.flag
			}
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.priority))
		b = binary.AppendVarint(b, f.firstSeen)
		if f.resolvedAt.Valid {
			b = binary.AppendVarint(b, f.resolvedAt.Int64)
		}
		if f.dueAt.Valid {
			b = binary.AppendVarint(b, f.dueAt.Int64)
		}
	}
	return b
}

var errBadReportRow = errors.New("malformed packed findings")

// packedCount reads how many findings a packed report row holds.
func packedCount(p string) (int, error) {
	if len(p) < 2 || p[0] != reportFormat {
		return 0, errBadReportRow
	}
	var v uint64
	for i, shift := 1, uint(0); i < len(p) && shift < 64; i, shift = i+1, shift+7 {
		v |= uint64(p[i]&0x7f) << shift
		if p[i] < 0x80 {
			if v > uint64(len(p)) { // every finding takes more than a byte
				return 0, errBadReportRow
			}
			return int(v), nil
		}
	}
	return 0, errBadReportRow
}

// unpackReportFindings decodes what packReportFindings wrote. The strings
// it passes share p's memory, so a host's findings cost one allocation.
func unpackReportFindings(p string, fn func(packedFinding) error) error {
	if len(p) == 0 || p[0] != reportFormat {
		return errBadReportRow
	}
	i := 1
	uvarint := func() (uint64, bool) {
		var v uint64
		for shift := uint(0); i < len(p) && shift < 64; shift += 7 {
			c := p[i]
			i++
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, true
			}
		}
		return 0, false
	}
	varint := func() (int64, bool) { // zig-zag, as binary.AppendVarint writes
		u, ok := uvarint()
		return int64(u>>1) ^ -int64(u&1), ok
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(p)-i) {
			return "", false
		}
		s := p[i : i+int(n)]
		i += int(n)
		return s, true
	}
	count, ok := uvarint()
	if !ok || count > uint64(len(p)) {
		return errBadReportRow
	}
	for range count {
		var f packedFinding
		var ok1, ok2, ok3, ok4 bool
		f.id, ok1 = str()
		f.name, ok2 = str()
		f.advisoryID, ok3 = str()
		f.severity, ok4 = str()
		if !ok1 || !ok2 || !ok3 || !ok4 || len(p)-i < 9 {
			return errBadReportRow
		}
		flags := p[i]
		f.kev, f.fixAvailable, f.excepted = flags&packedKEV != 0, flags&packedFixAvailable != 0, flags&packedExcepted != 0
		var bits uint64
		for k := 8; k >= 1; k-- {
			bits = bits<<8 | uint64(p[i+k])
		}
		f.priority = math.Float64frombits(bits)
		i += 9
		if f.firstSeen, ok = varint(); !ok {
			return errBadReportRow
		}
		if flags&packedResolved != 0 {
			if f.resolvedAt.Int64, ok = varint(); !ok {
				return errBadReportRow
			}
			f.resolvedAt.Valid = true
		}
		if flags&packedDue != 0 {
			if f.dueAt.Int64, ok = varint(); !ok {
				return errBadReportRow
			}
			f.dueAt.Valid = true
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	if i != len(p) {
		return errBadReportRow
	}
	return nil
}

// refreshReport rewrites the report rows of hosts from their findings rows,
// inside tx, which must already hold every change to those rows: call it
// last. Hosts are locked in ID order so that concurrent refreshes of
// overlapping hosts (PostgreSQL) cannot deadlock on each other.
func (s *DB) refreshReport(ctx context.Context, tx queryer, hostIDs []string) error {
	hostIDs = slices.Clone(hostIDs)
	slices.Sort(hostIDs)
	hostIDs = slices.Compact(hostIDs)
	empty := packReportFindings(nil)
	const chunk = 500
	for len(hostIDs) > 0 {
		ids := hostIDs[:min(chunk, len(hostIDs))]
		hostIDs = hostIDs[len(ids):]
		args := make([]any, 0, 2*len(ids))
		for _, id := range ids {
			args = append(args, id, empty)
		}
		// Take (or create) the rows first: on PostgreSQL this waits for any
		// other transaction refreshing these hosts to commit, so the read
		// below sees its changes.
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO report_hosts (host_id, findings) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?),", len(ids)), ",")+
			` ON CONFLICT (host_id) DO UPDATE SET findings = report_hosts.findings`), args...); err != nil {
			return fmt.Errorf("lock report rows: %w", err)
		}
		args = args[:0]
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT host_id, id, name, advisory_id, severity, kev, fix_available, exception_id <> '',
				priority, first_seen_at, resolved_at, due_at
			FROM findings WHERE host_id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`) ORDER BY host_id, id`), args...)
		if err != nil {
			return err
		}
		byHost := make(map[string][]packedFinding, len(ids))
		for rows.Next() {
			var host string
			var f packedFinding
			if err := rows.Scan(&host, &f.id, &f.name, &f.advisoryID, &f.severity, &f.kev, &f.fixAvailable, &f.excepted,
				&f.priority, &f.firstSeen, &f.resolvedAt, &f.dueAt); err != nil {
				rows.Close()
				return err
			}
			byHost[host] = append(byHost[host], f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE report_hosts SET findings = ? WHERE host_id = ?`),
				packReportFindings(byHost[id]), id); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillReport builds the report rows of hosts that have findings but no
// report row: once, on the first start after the migration that added
// them (and harmlessly again if a start is interrupted).
func (s *DB) fillReport(ctx context.Context) error {
	rows, err := s.wdb.QueryContext(ctx, `SELECT DISTINCT f.host_id FROM findings f
		WHERE NOT EXISTS (SELECT 1 FROM report_hosts r WHERE r.host_id = f.host_id)`)
	if err != nil {
		return err
	}
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return err
		}
		hosts = append(hosts, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hosts) == 0 {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.refreshReport(ctx, tx, hosts) })
}
