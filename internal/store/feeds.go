package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Advisory is an advisory as stored: the columns lists need, and the whole
// advisory as JSON in Data.
type Advisory struct {
	ID        string
	Source    string
	Feed      string
	Published time.Time
	Modified  time.Time
	Withdrawn *time.Time
	Severity  string // the feed's word: critical, high, medium, low or ""
	Summary   string
	CVSS      []string // vectors
	CVEs      []string
	Data      []byte
	RawHash   string // SHA-256 of the record's bytes as read (OSV), "" when unknown
}

// KEV is one entry of CISA's Known Exploited Vulnerabilities catalog.
type KEV struct {
	CVE, Vendor, Product, Name string
	DateAdded, DueDate         time.Time
	Ransomware                 bool
}

// EPSS is one CVE's exploit prediction score.
type EPSS struct {
	CVE               string
	Score, Percentile float64
}

// Rejection is a record an import refused.
type Rejection struct {
	Record string `json:"record"`
	Reason string `json:"reason"`
}

// FeedStatus is what the last import or sync of a feed did.
type FeedStatus struct {
	Name         string // "osv-almalinux", "cisa-kev", "epss", "alpine-secdb-v3.11-main"
	Kind         string // "osv", "alpine-secdb", "kev", "epss"
	Origin       string // URL or file it came from
	LastSync     time.Time
	Records      int // records read (advisories, KEV entries or scores)
	Changed      int // records new or different from the stored ones
	Rejected     int
	Duplicates   int         // identical copies of a record read twice (the same record in several folders)
	Rejections   []Rejection // the first MaxRejections
	Error        string      // why the last attempt failed as a whole; the previous state stays
	ETag         string      // for conditional requests
	LastModified string
	// SnapshotAt and SnapshotVersion date a KEV or EPSS snapshot (KEV's
	// dateReleased and catalogVersion, EPSS's score_date and model
	// version); zero when the file does not say.
	SnapshotAt      time.Time
	SnapshotVersion string
}

// MaxRejections bounds the rejections kept per feed status.
const MaxRejections = 200

// FeedImport is one feed's content, applied in one transaction.
type FeedImport struct {
	Status     FeedStatus
	Advisories []Advisory
	KEV        []KEV  // replaces the catalog when non-nil
	EPSS       []EPSS // replaces the scores when non-nil
	// Replace accepts a KEV or EPSS snapshot older than the stored one, or
	// one that removes more than MaxSnapshotRemoval of its entries.
	Replace bool
	// Describe, when set, is called inside the transaction with what the
	// import changes, so the caller can say it in the audit entry that
	// commits with it.
	Describe func(FeedDelta)
	// Job, when set, is called inside the transaction with the IDs of the
	// advisories the import adds or changes and the CVEs whose KEV entry
	// or EPSS score it adds, changes or removes; the job it returns (ok)
	// is stored in the same transaction, so the matching it asks for is
	// not lost if the server stops.
	Job func(changedIDs, changedCVEs []string) (FeedJob, bool)
}

// FeedDelta is what an import adds, changes and removes.
type FeedDelta struct {
	Added   int `json:"added"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
}

// MaxSnapshotRemoval is the share of a KEV catalog or EPSS score set that
// one import may remove without Replace: more is refused as a likely
// truncated or wrong file.
const MaxSnapshotRemoval = 0.10

// FeedRefusedError says why an import was refused as a whole, with the
// numbers; Replace overrides it.
type FeedRefusedError struct {
	Feed   string
	Reason string
}

func (e *FeedRefusedError) Error() string {
	return fmt.Sprintf("feed %s: %s", e.Feed, e.Reason)
}

// ImportFeed stores a feed in one transaction: either all of it lands or
// none of it. Advisories whose content is unchanged are left alone, so a
// re-import is idempotent; the IDs of new or changed advisories are
// returned. Advisories missing from a re-import are kept: feeds are read in
// parts (one ecosystem, one zip) and records are withdrawn, not deleted.
//
// The stored content hashes are read in one query and the changed
// advisories written in multi-row statements of batchRows rows.
func (s *DB) ImportFeed(ctx context.Context, in FeedImport, now time.Time) (changed []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		changed = changed[:0]
		var delta FeedDelta
		var cves []string // KEV or EPSS inputs that changed
		if len(in.Advisories) > 0 {
			d, ids, err := s.upsertAdvisories(ctx, tx, in, now)
			if err != nil {
				return err
			}
			delta, changed = d, ids
		}
		if in.KEV != nil || in.EPSS != nil {
			if err := s.checkSnapshotDate(ctx, tx, in); err != nil {
				return err
			}
		}
		if in.KEV != nil {
			d, c, err := s.replaceKEV(ctx, tx, in)
			if err != nil {
				return err
			}
			cves = append(cves, c...)
			delta.Added, delta.Changed, delta.Removed = delta.Added+d.Added, delta.Changed+d.Changed, delta.Removed+d.Removed
		}
		if in.EPSS != nil {
			d, c, err := s.replaceEPSS(ctx, tx, in)
			if err != nil {
				return err
			}
			cves = append(cves, c...)
			delta.Added, delta.Changed, delta.Removed = delta.Added+d.Added, delta.Changed+d.Changed, delta.Removed+d.Removed
		}
		st := in.Status
		st.LastSync, st.Changed, st.Error = now, delta.Added+delta.Changed+delta.Removed, ""
		if in.Describe != nil {
			in.Describe(delta)
		}
		if in.Job != nil {
			if j, ok := in.Job(changed, cves); ok {
				if err := s.insertFeedJob(ctx, tx, j, now); err != nil {
					return err
				}
			}
		}
		return s.putFeedStatus(ctx, tx, st)
	})
	return changed, err
}

// upsertAdvisories writes the advisories whose content hash differs from
// the stored one and returns what changed.
func (s *DB) upsertAdvisories(ctx context.Context, tx *sql.Tx, in FeedImport, now time.Time) (FeedDelta, []string, error) {
	var delta FeedDelta
	type stored struct{ hash, raw string }
	hashes := map[string]stored{}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, hash, raw_hash FROM advisories WHERE feed = ?`), in.Status.Name)
	if err != nil {
		return delta, nil, err
	}
	for rows.Next() {
		var id string
		var h stored
		if err := rows.Scan(&id, &h.hash, &h.raw); err != nil {
			rows.Close()
			return delta, nil, err
		}
		hashes[id] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return delta, nil, err
	}
	// The last copy of an ID wins, as row-by-row upserts did; one
	// statement must not upsert a row twice.
	last := make(map[string]int, len(in.Advisories))
	for i, a := range in.Advisories {
		last[a.ID] = i
	}
	var changed []string
	var advArgs, cveArgs []any
	var rawOnly []Advisory
	for i, a := range in.Advisories {
		if last[a.ID] != i {
			continue
		}
		sum := sha256.Sum256(a.Data)
		h := hex.EncodeToString(sum[:])
		if old, ok := hashes[a.ID]; ok && old.hash == h {
			if a.RawHash != "" && old.raw != a.RawHash {
				rawOnly = append(rawOnly, a)
			}
			continue
		} else if ok {
			delta.Changed++
		} else {
			delta.Added++
		}
		cvss, _ := json.Marshal(nonNilSlice(a.CVSS))
		advArgs = append(advArgs, a.ID, a.Source, in.Status.Name, ms(a.Published), ms(a.Modified), msPtr(a.Withdrawn), a.Severity, a.Summary,
			string(cvss), h, a.RawHash, string(a.Data), ms(now))
		seen := map[string]bool{}
		for _, c := range a.CVEs {
			if !seen[c] {
				seen[c] = true
				cveArgs = append(cveArgs, a.ID, c)
			}
		}
		changed = append(changed, a.ID)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO advisories (id, source, feed, published, modified, withdrawn,
		severity, summary, cvss, hash, raw_hash, data, imported_at)`, 13, advArgs, ` ON CONFLICT (id) DO UPDATE SET source = excluded.source,
		feed = excluded.feed, published = excluded.published, modified = excluded.modified, withdrawn = excluded.withdrawn,
		severity = excluded.severity, summary = excluded.summary, cvss = excluded.cvss, hash = excluded.hash, raw_hash = excluded.raw_hash,
		data = excluded.data, imported_at = excluded.imported_at`); err != nil {
		return delta, nil, err
	}
	for start := 0; start < len(changed); start += batchRows {
		batch := changed[start:min(start+batchRows, len(changed))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM advisory_cves WHERE advisory_id IN (`+placeholders(len(batch))+`)`), args...); err != nil {
			return delta, nil, err
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO advisory_cves (advisory_id, cve)`, 2, cveArgs, ` ON CONFLICT DO NOTHING`); err != nil {
		return delta, nil, err
	}
	for _, a := range rawOnly {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE advisories SET raw_hash = ? WHERE id = ?`), a.RawHash, a.ID); err != nil {
			return delta, nil, err
		}
	}
	return delta, changed, nil
}

// FeedRawHashes returns the raw record sums (advisory.Feed.RawSums) of a
// feed's stored advisories, for advisory.ReadOptions.Stored.
func (s *DB) FeedRawHashes(ctx context.Context, feed string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT raw_hash FROM advisories WHERE feed = ? AND raw_hash <> ''`), feed)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out[h] = true
	}
	return out, rows.Err()
}

// checkSnapshotDate refuses a KEV or EPSS snapshot older than the stored
// one, unless in.Replace.
func (s *DB) checkSnapshotDate(ctx context.Context, tx *sql.Tx, in FeedImport) error {
	if in.Status.SnapshotAt.IsZero() || in.Replace {
		return nil
	}
	var cur int64
	var ver string
	err := tx.QueryRowContext(ctx, s.q(`SELECT snapshot_at, snapshot_version FROM feeds WHERE name = ?`), in.Status.Name).Scan(&cur, &ver)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && cur == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if ms(in.Status.SnapshotAt) < cur {
		return &FeedRefusedError{Feed: in.Status.Name, Reason: fmt.Sprintf(
			"this snapshot (%s%s) is older than the stored one (%s%s); import it with --replace to go back to it",
			in.Status.SnapshotAt.UTC().Format(time.RFC3339), versionNote(in.Status.SnapshotVersion),
			fromMS(cur).Format(time.RFC3339), versionNote(ver))}
	}
	return nil
}

func versionNote(v string) string {
	if v == "" {
		return ""
	}
	return ", version " + v
}

// checkRemoval refuses a snapshot that removes more than
// MaxSnapshotRemoval of the current entries, unless in.Replace.
func checkRemoval(in FeedImport, current int, d FeedDelta, what string) error {
	if in.Replace || current == 0 || float64(d.Removed) <= MaxSnapshotRemoval*float64(current) {
		return nil
	}
	return &FeedRefusedError{Feed: in.Status.Name, Reason: fmt.Sprintf(
		"this import would remove %d of the %d stored %s (more than %d%%), add %d and change %d; check the file, or import it with --replace",
		d.Removed, current, what, int(MaxSnapshotRemoval*100), d.Added, d.Changed)}
}

func (s *DB) replaceKEV(ctx context.Context, tx *sql.Tx, in FeedImport) (FeedDelta, []string, error) {
	var d FeedDelta
	var cves []string
	old := map[string]KEV{}
	rows, err := tx.QueryContext(ctx, `SELECT cve, vendor, product, name, date_added, due_date, ransomware FROM kev`)
	if err != nil {
		return d, nil, err
	}
	for rows.Next() {
		var k KEV
		var added, due int64
		if err := rows.Scan(&k.CVE, &k.Vendor, &k.Product, &k.Name, &added, &due, &k.Ransomware); err != nil {
			rows.Close()
			return d, nil, err
		}
		k.DateAdded, k.DueDate = fromMS(added), fromMS(due)
		old[k.CVE] = k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, nil, err
	}
	seen := map[string]bool{}
	for _, k := range in.KEV {
		seen[k.CVE] = true
	}
	for cve := range old {
		if !seen[cve] {
			d.Removed++
			cves = append(cves, cve)
		}
	}
	for _, k := range in.KEV {
		if o, ok := old[k.CVE]; !ok {
			d.Added++
			cves = append(cves, k.CVE)
		} else if o != k {
			d.Changed++
			cves = append(cves, k.CVE)
		}
	}
	if err := checkRemoval(in, len(old), d, "KEV entries"); err != nil {
		return d, nil, err
	}
	for _, k := range in.KEV {
		if o, ok := old[k.CVE]; ok && o == k {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO kev (cve, vendor, product, name, date_added, due_date, ransomware)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cve) DO UPDATE SET vendor = excluded.vendor, product = excluded.product,
			name = excluded.name, date_added = excluded.date_added, due_date = excluded.due_date, ransomware = excluded.ransomware`),
			k.CVE, k.Vendor, k.Product, k.Name, ms(k.DateAdded), ms(k.DueDate), k.Ransomware); err != nil {
			return d, nil, err
		}
	}
	for cve := range old {
		if !seen[cve] {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM kev WHERE cve = ?`), cve); err != nil {
				return d, nil, err
			}
		}
	}
	return d, cves, nil
}

func (s *DB) replaceEPSS(ctx context.Context, tx *sql.Tx, in FeedImport) (FeedDelta, []string, error) {
	var d FeedDelta
	var cves []string
	type score struct{ s, p float64 }
	old := map[string]score{}
	rows, err := tx.QueryContext(ctx, `SELECT cve, score, percentile FROM epss`)
	if err != nil {
		return d, nil, err
	}
	for rows.Next() {
		var cve string
		var sc score
		if err := rows.Scan(&cve, &sc.s, &sc.p); err != nil {
			rows.Close()
			return d, nil, err
		}
		old[cve] = sc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, nil, err
	}
	seen := make(map[string]bool, len(in.EPSS))
	for _, e := range in.EPSS {
		if seen[e.CVE] {
			continue
		}
		seen[e.CVE] = true
		if o, ok := old[e.CVE]; !ok {
			d.Added++
			cves = append(cves, e.CVE)
		} else if o != (score{e.Score, e.Percentile}) {
			d.Changed++
			cves = append(cves, e.CVE)
		}
	}
	for cve := range old {
		if !seen[cve] {
			d.Removed++
			cves = append(cves, cve)
		}
	}
	if err := checkRemoval(in, len(old), d, "EPSS scores"); err != nil {
		return d, nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM epss`); err != nil {
		return d, nil, err
	}
	clear(seen)
	for start := 0; start < len(in.EPSS); start += batchRows {
		end := min(start+batchRows, len(in.EPSS))
		var b strings.Builder
		b.WriteString(`INSERT INTO epss (cve, score, percentile) VALUES `)
		args := make([]any, 0, 3*(end-start))
		for _, e := range in.EPSS[start:end] {
			if seen[e.CVE] {
				continue
			}
			seen[e.CVE] = true
			if len(args) > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?)")
			args = append(args, e.CVE, e.Score, e.Percentile)
		}
		if len(args) == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return d, nil, fmt.Errorf("store EPSS: %w", err)
		}
	}
	return d, cves, nil
}

func (s *DB) putFeedStatus(ctx context.Context, q queryer, st FeedStatus) error {
	if len(st.Rejections) > MaxRejections {
		st.Rejections = st.Rejections[:MaxRejections]
	}
	rej, _ := json.Marshal(st.Rejections)
	if st.Rejections == nil {
		rej = []byte("[]")
	}
	var snap int64
	if !st.SnapshotAt.IsZero() {
		snap = ms(st.SnapshotAt)
	}
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO feeds (name, kind, origin, last_sync, records, changed, rejected, duplicates, rejections, error, etag, last_modified,
		snapshot_at, snapshot_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, origin = excluded.origin,
		last_sync = excluded.last_sync, records = excluded.records, changed = excluded.changed, rejected = excluded.rejected,
		duplicates = excluded.duplicates,
		rejections = excluded.rejections, error = excluded.error, etag = excluded.etag, last_modified = excluded.last_modified,
		snapshot_at = excluded.snapshot_at, snapshot_version = excluded.snapshot_version`),
		st.Name, st.Kind, st.Origin, ms(st.LastSync), st.Records, st.Changed, st.Rejected, st.Duplicates, string(rej), st.Error, st.ETag, st.LastModified,
		snap, st.SnapshotVersion)
	return err
}

// RecordFeedError notes that a feed's sync failed as a whole; its stored
// content and last good counts stay.
func (s *DB) RecordFeedError(ctx context.Context, name, kind, origin, msg string) error {
	res, err := s.wdb.ExecContext(ctx, s.q(`UPDATE feeds SET error = ? WHERE name = ?`), msg, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.putFeedStatus(ctx, s.wdb, FeedStatus{Name: name, Kind: kind, Origin: origin, Error: msg})
	}
	return nil
}

// ListFeeds returns every feed's status by name.
func (s *DB) ListFeeds(ctx context.Context) ([]FeedStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, kind, origin, last_sync, records, changed, rejected, duplicates, rejections, error, etag, last_modified,
		snapshot_at, snapshot_version FROM feeds ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FeedStatus
	for rows.Next() {
		var f FeedStatus
		var last, snap int64
		var rej string
		if err := rows.Scan(&f.Name, &f.Kind, &f.Origin, &last, &f.Records, &f.Changed, &f.Rejected, &f.Duplicates, &rej, &f.Error, &f.ETag, &f.LastModified,
			&snap, &f.SnapshotVersion); err != nil {
			return nil, err
		}
		f.LastSync = fromMS(last)
		if snap != 0 {
			f.SnapshotAt = fromMS(snap)
		}
		if err := json.Unmarshal([]byte(rej), &f.Rejections); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// GetFeed returns one feed's status.
func (s *DB) GetFeed(ctx context.Context, name string) (FeedStatus, error) {
	fs, err := s.ListFeeds(ctx)
	if err != nil {
		return FeedStatus{}, err
	}
	for _, f := range fs {
		if f.Name == name {
			return f, nil
		}
	}
	return FeedStatus{}, ErrNotFound
}

// AllAdvisoryData streams every stored advisory's JSON, for loading the
// matcher's index at start.
func (s *DB) AllAdvisoryData(ctx context.Context, fn func(id string, data []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, data FROM advisories`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return err
		}
		if err := fn(id, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GetAdvisory returns one advisory by ID.
func (s *DB) GetAdvisory(ctx context.Context, id string) (Advisory, error) {
	var a Advisory
	var pub, mod int64
	var wd sql.NullInt64
	var cvss string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, source, feed, published, modified, withdrawn, severity, summary, cvss, data
		FROM advisories WHERE id = ?`), id).Scan(&a.ID, &a.Source, &a.Feed, &pub, &mod, &wd, &a.Severity, &a.Summary, &cvss, &a.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Advisory{}, ErrNotFound
	}
	if err != nil {
		return Advisory{}, err
	}
	a.Published, a.Modified, a.Withdrawn = fromMS(pub), fromMS(mod), fromMSPtr(wd)
	if err := json.Unmarshal([]byte(cvss), &a.CVSS); err != nil {
		return Advisory{}, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT cve FROM advisory_cves WHERE advisory_id = ? ORDER BY cve`), id)
	if err != nil {
		return Advisory{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return Advisory{}, err
		}
		a.CVEs = append(a.CVEs, c)
	}
	return a, rows.Err()
}

// AdvisoriesByCVE returns the IDs of the advisories that name a CVE.
func (s *DB) AdvisoriesByCVE(ctx context.Context, cve string) ([]string, error) {
	return s.queryStrings(ctx, `SELECT advisory_id FROM advisory_cves WHERE cve = ? ORDER BY advisory_id`, cve)
}

// CountAdvisories counts stored advisories, KEV entries and EPSS scores.
func (s *DB) CountAdvisories(ctx context.Context) (advisories, kev, epss int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM advisories), (SELECT COUNT(*) FROM kev), (SELECT COUNT(*) FROM epss)`).Scan(&advisories, &kev, &epss)
	return
}

// SetFeedValidators stores the ETag and Last-Modified of a feed's last
// download, for the next conditional request.
func (s *DB) SetFeedValidators(ctx context.Context, name, etag, lastModified string) error {
	return affected(s.wdb.ExecContext(ctx, s.q(`UPDATE feeds SET etag = ?, last_modified = ? WHERE name = ?`), etag, lastModified, name))
}

// DeleteFeed removes a feed in one transaction: its status, its
// advisories (returned by ID, so the caller can take them out of the
// index and re-match), and for the KEV or EPSS feed the catalog or the
// scores.
func (s *DB) DeleteFeed(ctx context.Context, name string) (kind string, advisoryIDs []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		advisoryIDs = advisoryIDs[:0]
		err := tx.QueryRowContext(ctx, s.q(`SELECT kind FROM feeds WHERE name = ?`+s.forUpdate()), name).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		advisoryIDs, err = queryRowsOn(ctx, tx, s.q(`SELECT id FROM advisories WHERE feed = ?`), scanString, name)
		if err != nil {
			return err
		}
		// advisory_cves rows go with their advisory (ON DELETE CASCADE).
		for _, q := range []string{`DELETE FROM advisory_cves WHERE advisory_id IN (SELECT id FROM advisories WHERE feed = ?)`,
			`DELETE FROM advisories WHERE feed = ?`, `DELETE FROM feeds WHERE name = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), name); err != nil {
				return err
			}
		}
		switch kind {
		case "kev":
			_, err = tx.ExecContext(ctx, `DELETE FROM kev`)
		case "epss":
			_, err = tx.ExecContext(ctx, `DELETE FROM epss`)
		}
		return err
	})
	return kind, advisoryIDs, err
}
