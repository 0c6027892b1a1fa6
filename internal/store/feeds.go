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
}

// MaxRejections bounds the rejections kept per feed status.
const MaxRejections = 200

// FeedImport is one feed's content, applied in one transaction.
type FeedImport struct {
	Status     FeedStatus
	Advisories []Advisory
	KEV        []KEV  // replaces the catalog when non-nil
	EPSS       []EPSS // replaces the scores when non-nil
}

// ImportFeed stores a feed in one transaction: either all of it lands or
// none of it. Advisories whose content is unchanged are left alone, so a
// re-import is idempotent; the IDs of new or changed advisories are
// returned. Advisories missing from a re-import are kept: feeds are read in
// parts (one ecosystem, one zip) and records are withdrawn, not deleted.
func (s *DB) ImportFeed(ctx context.Context, in FeedImport, now time.Time) (changed []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		hashes := map[string]string{}
		if len(in.Advisories) > 0 {
			rows, err := tx.QueryContext(ctx, s.q(`SELECT id, hash FROM advisories WHERE feed = ?`), in.Status.Name)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id, h string
				if err := rows.Scan(&id, &h); err != nil {
					rows.Close()
					return err
				}
				hashes[id] = h
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, a := range in.Advisories {
			sum := sha256.Sum256(a.Data)
			h := hex.EncodeToString(sum[:])
			if hashes[a.ID] == h {
				continue
			}
			cvss, _ := json.Marshal(nonNilSlice(a.CVSS))
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO advisories (id, source, feed, published, modified, withdrawn,
				severity, summary, cvss, hash, data, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET source = excluded.source, feed = excluded.feed, published = excluded.published,
				modified = excluded.modified, withdrawn = excluded.withdrawn, severity = excluded.severity,
				summary = excluded.summary, cvss = excluded.cvss, hash = excluded.hash, data = excluded.data,
				imported_at = excluded.imported_at`),
				a.ID, a.Source, in.Status.Name, ms(a.Published), ms(a.Modified), msPtr(a.Withdrawn), a.Severity, a.Summary,
				string(cvss), h, string(a.Data), ms(now)); err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM advisory_cves WHERE advisory_id = ?`), a.ID); err != nil {
				return err
			}
			for _, c := range a.CVEs {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO advisory_cves (advisory_id, cve) VALUES (?, ?) ON CONFLICT DO NOTHING`), a.ID, c); err != nil {
					return err
				}
			}
			changed = append(changed, a.ID)
		}
		n := len(changed)
		if in.KEV != nil {
			c, err := s.replaceKEV(ctx, tx, in.KEV)
			if err != nil {
				return err
			}
			n += c
		}
		if in.EPSS != nil {
			c, err := s.replaceEPSS(ctx, tx, in.EPSS)
			if err != nil {
				return err
			}
			n += c
		}
		st := in.Status
		st.LastSync, st.Changed, st.Error = now, n, ""
		return s.putFeedStatus(ctx, tx, st)
	})
	return changed, err
}

func (s *DB) replaceKEV(ctx context.Context, tx *sql.Tx, kev []KEV) (int, error) {
	old := map[string]KEV{}
	rows, err := tx.QueryContext(ctx, `SELECT cve, vendor, product, name, date_added, due_date, ransomware FROM kev`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var k KEV
		var added, due int64
		if err := rows.Scan(&k.CVE, &k.Vendor, &k.Product, &k.Name, &added, &due, &k.Ransomware); err != nil {
			rows.Close()
			return 0, err
		}
		k.DateAdded, k.DueDate = fromMS(added), fromMS(due)
		old[k.CVE] = k
	}
	rows.Close()
	changed := 0
	seen := map[string]bool{}
	for _, k := range kev {
		seen[k.CVE] = true
		if o, ok := old[k.CVE]; ok && o == k {
			continue
		}
		changed++
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO kev (cve, vendor, product, name, date_added, due_date, ransomware)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cve) DO UPDATE SET vendor = excluded.vendor, product = excluded.product,
			name = excluded.name, date_added = excluded.date_added, due_date = excluded.due_date, ransomware = excluded.ransomware`),
			k.CVE, k.Vendor, k.Product, k.Name, ms(k.DateAdded), ms(k.DueDate), k.Ransomware); err != nil {
			return 0, err
		}
	}
	for cve := range old {
		if !seen[cve] {
			changed++
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM kev WHERE cve = ?`), cve); err != nil {
				return 0, err
			}
		}
	}
	return changed, nil
}

func (s *DB) replaceEPSS(ctx context.Context, tx *sql.Tx, scores []EPSS) (int, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM epss`); err != nil {
		return 0, err
	}
	seen := make(map[string]bool, len(scores))
	for start := 0; start < len(scores); start += batchRows {
		end := min(start+batchRows, len(scores))
		var b strings.Builder
		b.WriteString(`INSERT INTO epss (cve, score, percentile) VALUES `)
		args := make([]any, 0, 3*(end-start))
		for _, e := range scores[start:end] {
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
			return 0, fmt.Errorf("store EPSS: %w", err)
		}
	}
	return len(seen), nil
}

func (s *DB) putFeedStatus(ctx context.Context, q queryer, st FeedStatus) error {
	if len(st.Rejections) > MaxRejections {
		st.Rejections = st.Rejections[:MaxRejections]
	}
	rej, _ := json.Marshal(st.Rejections)
	if st.Rejections == nil {
		rej = []byte("[]")
	}
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO feeds (name, kind, origin, last_sync, records, changed, rejected, duplicates, rejections, error, etag, last_modified)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, origin = excluded.origin,
		last_sync = excluded.last_sync, records = excluded.records, changed = excluded.changed, rejected = excluded.rejected,
		duplicates = excluded.duplicates,
		rejections = excluded.rejections, error = excluded.error, etag = excluded.etag, last_modified = excluded.last_modified`),
		st.Name, st.Kind, st.Origin, ms(st.LastSync), st.Records, st.Changed, st.Rejected, st.Duplicates, string(rej), st.Error, st.ETag, st.LastModified)
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
	rows, err := s.db.QueryContext(ctx, `SELECT name, kind, origin, last_sync, records, changed, rejected, duplicates, rejections, error, etag, last_modified FROM feeds ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FeedStatus
	for rows.Next() {
		var f FeedStatus
		var last int64
		var rej string
		if err := rows.Scan(&f.Name, &f.Kind, &f.Origin, &last, &f.Records, &f.Changed, &f.Rejected, &f.Duplicates, &rej, &f.Error, &f.ETag, &f.LastModified); err != nil {
			return nil, err
		}
		f.LastSync = fromMS(last)
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
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT advisory_id FROM advisory_cves WHERE cve = ? ORDER BY advisory_id`), cve)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
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
