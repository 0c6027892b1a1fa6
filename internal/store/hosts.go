package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Host is an enrolled machine.
type Host struct {
	ID       string
	Hostname string
	Facts    inventory.Facts
	// Labels are derived from the agent's facts (os, release, arch,
	// format); UserLabels are set by people or the enrollment token and
	// win over Labels of the same key.
	Labels         map[string]string
	UserLabels     map[string]string
	Problems       []string // collection problems the agent reported last
	EnrolledAt     time.Time
	LastSeenAt     time.Time
	RevokedAt      *time.Time
	CertSerial     string
	PrevCertSerial string
	CertNotAfter   time.Time
	Revision       int64
	PackageCount   int
	UpdateCount    int
	EnrollTokenID  string
	// HostnameShared: another active host has the same hostname, so the
	// hostname does not name this host (static group selectors ignore it).
	HostnameShared bool
}

// EffectiveLabels are the agent's labels overlaid by the user's.
func (h Host) EffectiveLabels() map[string]string {
	out := make(map[string]string, len(h.Labels)+len(h.UserLabels))
	for k, v := range h.Labels {
		out[k] = v
	}
	for k, v := range h.UserLabels {
		out[k] = v
	}
	return out
}

// FactLabels derives the agent labels from facts.
func FactLabels(f inventory.Facts) map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("os", f.OS.ID)
	set("release", f.OS.VersionID)
	set("arch", f.Arch)
	set("format", string(f.PackageFormat))
	return m
}

// EnrollHost consumes one use of the enrollment token whose secret hashes
// to tokenHash and stores the new host, in one transaction: two agents
// racing for the last use of a token cannot both enroll. The host's user
// labels are h.UserLabels (the agent's own) overlaid by the token's: the
// token's win on conflict.
func (s *DB) EnrollHost(ctx context.Context, tokenHash string, h Host, now time.Time) (Host, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t, err := scanEnrollToken(tx.QueryRowContext(ctx, s.q(`SELECT `+enrollTokenCols+` FROM enroll_tokens WHERE hash = ?`+s.forUpdate()), tokenHash))
		if errors.Is(err, ErrNotFound) {
			return &EnrollError{Reason: "unknown enrollment token"}
		}
		if err != nil {
			return err
		}
		switch {
		case t.RevokedAt != nil:
			return &EnrollError{Reason: fmt.Sprintf("enrollment token %s was revoked at %s", t.Prefix, t.RevokedAt.Format(time.RFC3339)), At: *t.RevokedAt}
		case !now.Before(t.ExpiresAt):
			return &EnrollError{Reason: fmt.Sprintf("enrollment token %s expired at %s; create a new one", t.Prefix, t.ExpiresAt.Format(time.RFC3339)), At: t.ExpiresAt}
		case t.MaxHosts > 0 && t.Uses >= t.MaxHosts:
			return &EnrollError{Reason: fmt.Sprintf("enrollment token %s is exhausted: used by %d of %d hosts", t.Prefix, t.Uses, t.MaxHosts)}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ?`), t.ID); err != nil {
			return err
		}
		h.EnrollTokenID = t.ID
		merged := map[string]string{}
		for k, v := range h.UserLabels {
			merged[k] = v
		}
		for k, v := range t.Labels {
			merged[k] = v
		}
		h.UserLabels = merged
		h.Labels = FactLabels(h.Facts)
		facts, _ := json.Marshal(h.Facts)
		labels, _ := json.Marshal(nonNilMap(h.Labels))
		user, _ := json.Marshal(h.UserLabels)
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO hosts (id, hostname, facts, os_id, os_version, package_format,
			reboot_required, labels, user_labels, enrolled_at, last_seen_at, cert_serial, cert_not_after, enroll_token_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			h.ID, h.Hostname, string(facts), h.Facts.OS.ID, h.Facts.OS.VersionID, string(h.Facts.PackageFormat),
			h.Facts.RebootRequired, string(labels), string(user), ms(h.EnrolledAt), ms(h.LastSeenAt), h.CertSerial,
			ms(h.CertNotAfter), h.EnrollTokenID)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		return s.writeHostLabels(ctx, tx, h.ID, h.EffectiveLabels())
	})
	if err != nil {
		return Host{}, err
	}
	return s.GetHost(ctx, h.ID)
}

// forUpdate locks the selected row in PostgreSQL; SQLite's immediate
// transactions already hold the write lock.
func (s *DB) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func (s *DB) writeHostLabels(ctx context.Context, q queryer, hostID string, labels map[string]string) error {
	if _, err := q.ExecContext(ctx, s.q(`DELETE FROM host_labels WHERE host_id = ?`), hostID); err != nil {
		return err
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := q.ExecContext(ctx, s.q(`INSERT INTO host_labels (host_id, key, value) VALUES (?, ?, ?)`), hostID, k, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

const hostCols = `id, hostname, facts, labels, user_labels, problems, enrolled_at, last_seen_at, revoked_at,
	cert_serial, prev_cert_serial, cert_not_after, revision, package_count, update_count, enroll_token_id, ` + hostnameSharedCol

// hostnameSharedCol says whether another active host has the row's
// hostname (hosts_hostname indexes the lookup).
const hostnameSharedCol = `(SELECT COUNT(*) FROM hosts d WHERE d.hostname = hosts.hostname AND d.id <> hosts.id AND d.revoked_at IS NULL) > 0`

func scanHost(row interface{ Scan(...any) error }) (Host, error) {
	var h Host
	var facts, labels, user, problems string
	var enrolled, seen, notAfter int64
	var revoked sql.NullInt64
	err := row.Scan(&h.ID, &h.Hostname, &facts, &labels, &user, &problems, &enrolled, &seen, &revoked,
		&h.CertSerial, &h.PrevCertSerial, &notAfter, &h.Revision, &h.PackageCount, &h.UpdateCount, &h.EnrollTokenID, &h.HostnameShared)
	if errors.Is(err, sql.ErrNoRows) {
		return Host{}, ErrNotFound
	}
	if err != nil {
		return Host{}, err
	}
	h.EnrolledAt, h.LastSeenAt, h.RevokedAt, h.CertNotAfter = fromMS(enrolled), fromMS(seen), fromMSPtr(revoked), fromMS(notAfter)
	for _, f := range []struct {
		s string
		v any
	}{{facts, &h.Facts}, {labels, &h.Labels}, {user, &h.UserLabels}, {problems, &h.Problems}} {
		if err := json.Unmarshal([]byte(f.s), f.v); err != nil {
			return Host{}, fmt.Errorf("host %s: stored JSON: %w", h.ID, err)
		}
	}
	return h, nil
}

// GetHost returns the host with the ID, revoked or not.
func (s *DB) GetHost(ctx context.Context, id string) (Host, error) {
	return scanHost(s.db.QueryRowContext(ctx, s.q(`SELECT `+hostCols+` FROM hosts WHERE id = ?`), id))
}

// HostFilter selects hosts. Zero fields do not filter.
type HostFilter struct {
	OS             string            // "ubuntu", "ubuntu 22.04" or "ubuntu:22.04"; a version also matches its point releases ("9" matches "9.4")
	Labels         map[string]string // every effective label must match
	RebootRequired *bool
	SeenBefore     *time.Time // stale: last seen before
	SeenSince      *time.Time
	IncludeRevoked bool
	Search         string // substring of the hostname, case-insensitive
	Limit          int    // page size; 0 means 100
	After          string // page token from the previous page
}

func (s *DB) hostWhere(f HostFilter) (string, []any, error) {
	var conds []string
	var args []any
	if !f.IncludeRevoked {
		conds = append(conds, "revoked_at IS NULL")
	}
	if f.OS != "" {
		id, ver, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(f.OS), ":", " "), " ")
		conds = append(conds, "os_id = ?")
		args = append(args, strings.ToLower(id))
		if ver = strings.TrimSpace(ver); ver != "" {
			conds = append(conds, "(os_version = ? OR os_version LIKE ? ESCAPE '\\')")
			args = append(args, ver, likeEscape(ver)+".%")
		}
	}
	keys := make([]string, 0, len(f.Labels))
	for k := range f.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conds = append(conds, "EXISTS (SELECT 1 FROM host_labels l WHERE l.host_id = hosts.id AND l.key = ? AND l.value = ?)")
		args = append(args, k, f.Labels[k])
	}
	if f.RebootRequired != nil {
		conds = append(conds, "reboot_required = ?")
		args = append(args, *f.RebootRequired)
	}
	if f.SeenBefore != nil {
		conds = append(conds, "last_seen_at < ?")
		args = append(args, ms(*f.SeenBefore))
	}
	if f.SeenSince != nil {
		conds = append(conds, "last_seen_at >= ?")
		args = append(args, ms(*f.SeenSince))
	}
	if f.Search != "" {
		conds = append(conds, "LOWER(hostname) LIKE ? ESCAPE '\\'")
		args = append(args, "%"+likeEscape(strings.ToLower(f.Search))+"%")
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// ListHosts returns one page of hosts ordered by hostname and the token of
// the next page ("" on the last).
func (s *DB) ListHosts(ctx context.Context, f HostFilter) ([]Host, string, error) {
	where, args, err := s.hostWhere(f)
	if err != nil {
		return nil, "", err
	}
	if f.After != "" {
		name, id, err := decodeCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		c := "(hostname > ? OR (hostname = ? AND id > ?))"
		if where == "" {
			where = " WHERE " + c
		} else {
			where += " AND " + c
		}
		args = append(args, name, name, id)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+hostCols+` FROM hosts`+where+` ORDER BY hostname, id LIMIT ?`), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.Hostname, last.ID)
	}
	return out, next, nil
}

// ErrBadCursor is returned for a page token this store did not make.
var ErrBadCursor = errors.New("invalid page token")

func encodeCursor(name, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name + "\x00" + id))
}

func decodeCursor(s string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", ErrBadCursor
	}
	name, id, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", ErrBadCursor
	}
	return name, id, nil
}

// CountHosts counts the hosts the filter selects, ignoring paging.
func (s *DB) CountHosts(ctx context.Context, f HostFilter) (int, error) {
	where, args, err := s.hostWhere(f)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM hosts`+where), args...).Scan(&n)
	return n, err
}

// RevokeHost revokes a host: its certificate is refused from now on.
func (s *DB) RevokeHost(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, s.q(`UPDATE hosts SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(now), id)
}

// RenewHostCert records a host's new certificate; the previous one stays
// valid until the next renewal so a lost response does not lock it out.
func (s *DB) RenewHostCert(ctx context.Context, id, serial string, notAfter time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, s.q(`SELECT revoked_at FROM hosts WHERE id = ?`+s.forUpdate()), id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if revoked.Valid {
			return ErrRevoked
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE hosts SET prev_cert_serial = cert_serial, cert_serial = ?, cert_not_after = ? WHERE id = ?`),
			serial, ms(notAfter), id)
		return err
	})
}

// SetHostUserLabels replaces the host's user-set labels.
func (s *DB) SetHostUserLabels(ctx context.Context, id string, labels map[string]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		h, err := scanHost(tx.QueryRowContext(ctx, s.q(`SELECT `+hostCols+` FROM hosts WHERE id = ?`+s.forUpdate()), id))
		if err != nil {
			return err
		}
		h.UserLabels = nonNilMap(labels)
		b, _ := json.Marshal(h.UserLabels)
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET user_labels = ? WHERE id = ?`), string(b), id); err != nil {
			return err
		}
		return s.writeHostLabels(ctx, tx, id, h.EffectiveLabels())
	})
}

// TouchHost records that the host was seen.
func (s *DB) TouchHost(ctx context.Context, id string, now time.Time) error {
	return affected(s.wdb.ExecContext(ctx, s.q(`UPDATE hosts SET last_seen_at = ? WHERE id = ?`), ms(now), id))
}

// Hostnames returns the hostname of each of the hosts that exist, by ID,
// in a few queries however many IDs there are.
func (s *DB) Hostnames(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, hostname FROM hosts WHERE id IN (`+marks+`)`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = name
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListHostLabels returns every active host with only what group selectors
// read filled in (ID, hostname and whether it is shared, labels, user
// labels), in one query: far
// cheaper than ListHosts, which decodes each host's facts.
func (s *DB) ListHostLabels(ctx context.Context) ([]Host, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, hostname, labels, user_labels, `+hostnameSharedCol+` FROM hosts WHERE revoked_at IS NULL ORDER BY hostname, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		var h Host
		var labels, user string
		if err := rows.Scan(&h.ID, &h.Hostname, &labels, &user, &h.HostnameShared); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(labels), &h.Labels); err != nil {
			return nil, fmt.Errorf("host %s: stored labels: %w", h.ID, err)
		}
		if err := json.Unmarshal([]byte(user), &h.UserLabels); err != nil {
			return nil, fmt.Errorf("host %s: stored user labels: %w", h.ID, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
