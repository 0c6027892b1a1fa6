package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Update is a newer version of an installed package that the host's
// repositories offer.
type Update struct {
	Name    string
	Arch    string
	Version string
	Repo    string
}

// Checkin is one validated report from an agent.
type Checkin struct {
	Facts        inventory.Facts
	Full         bool
	BaseRevision int64
	Packages     []inventory.Package // Full: the whole inventory
	Upserts      []inventory.Package // delta: added or changed
	Removes      []string            // delta: inventory.Package.Key() of removed packages
	Updates      []Update            // the complete list, when UpdatesChanged or Full
	// UpdatesChanged says Updates replaces the stored list.
	UpdatesChanged bool
	Problems       []string
}

// HostPackage is one installed package of a host.
type HostPackage struct {
	inventory.Package
	Format        inventory.Format
	UpdateVersion string // newest version the host's repositories offer; "" when none
}

// pvKey identifies an interned package version.
type pvKey struct {
	format, name, version, arch, source, sourceVersion string
}

func keyOf(format inventory.Format, p inventory.Package) pvKey {
	src := p.Source
	if src == "" {
		src = p.Name
	}
	return pvKey{string(format), p.Name, p.Version, p.Arch, src, p.SourceVersion}
}

// batchRows bounds the rows in one multi-row INSERT (4 columns each), far
// below both databases' parameter limits.
const batchRows = 250

// ApplyCheckin stores a check-in and returns the host's new inventory
// revision, once the check-in has committed. Concurrent check-ins share
// one transaction (see checkinBatcher); each still succeeds or fails on
// its own. A delta whose BaseRevision is not the stored revision is
// ErrRevisionMismatch and changes nothing: the agent then sends a full
// report. A revoked host gets ErrRevoked.
//
// A check-in that adds more package versions the server does not hold than
// the host may add now (see MaxNewVersionsPerHour) is a *CheckinRateError
// and changes nothing. Versions the check-in releases that no host holds
// any more are removed with their match results (see pruneVersions). A
// check-in that changes the host's packages or updates marks the host to
// reconcile (hosts_to_reconcile) in its transaction.
func (s *DB) ApplyCheckin(ctx context.Context, hostID string, c Checkin, now time.Time) (int64, error) {
	return s.checkins.apply(ctx, hostID, c, now)
}

// applyCheckinAlone is ApplyCheckin in a transaction of its own, run again
// when a concurrent check-in changed the package versions under it.
func (s *DB) applyCheckinAlone(ctx context.Context, hostID string, c Checkin, now time.Time) (int64, error) {
	for attempt := 1; ; attempt++ {
		rev, err := s.applyCheckin(ctx, hostID, c, now)
		if attempt == 4 || !retryable(err) || ctx.Err() != nil {
			return rev, err
		}
		if isForeignKeyViolation(err) {
			// A cached version was removed by another replica: forget
			// the cache and intern afresh.
			s.mu.Lock()
			s.pvCache = map[pvKey]int64{}
			s.mu.Unlock()
		}
	}
}

func (s *DB) applyCheckin(ctx context.Context, hostID string, c Checkin, now time.Time) (int64, error) {
	var rev int64
	interned := map[pvKey]int64{}
	err := s.txThen(ctx, func(tx *sql.Tx) error {
		var err error
		rev, err = s.applyCheckinTx(ctx, tx, hostID, c, now, interned)
		return err
	}, func() { s.cacheVersions(interned) })
	if err != nil {
		return 0, err
	}
	return rev, nil
}

// checkinHost is what a check-in reads of its host: a few columns, so its
// cost does not grow with the host's facts or labels.
type checkinHost struct {
	revision                  int64
	packageCount, updateCount int
	factsHash                 string
}

// applyCheckinTx applies one check-in inside tx, recording the package
// versions it interned in interned (which enter the cache only once tx
// commits). Its work is bounded by the size of the check-in, not by the
// host's package count: a delta reads and writes only the slots it names.
func (s *DB) applyCheckinTx(ctx context.Context, tx *sql.Tx, hostID string, c Checkin, now time.Time, interned map[pvKey]int64) (int64, error) {
	var h checkinHost
	var revoked sql.NullInt64
	err := s.txQueryRow(ctx, tx, s.q(`SELECT revision, revoked_at, package_count, update_count, facts_hash
		FROM hosts WHERE id = ?`+s.forUpdate()), hostID).Scan(&h.revision, &revoked, &h.packageCount, &h.updateCount, &h.factsHash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if revoked.Valid {
		return 0, ErrRevoked
	}
	if !c.Full && c.BaseRevision != h.revision {
		return 0, ErrRevisionMismatch
	}
	format := c.Facts.PackageFormat
	incoming := c.Upserts
	if c.Full {
		incoming = c.Packages
	}
	created, err := s.intern(ctx, tx, format, incoming, interned)
	if err != nil {
		return 0, err
	}
	if h.revision > 0 && created > 0 { // the first inventory is free
		if err := s.chargeNewVersions(ctx, tx, hostID, created, now); err != nil {
			return 0, err
		}
	}
	var deletes []string // slots "name\x00arch" to delete
	var released []int64 // versions held before in the slots that change
	var upserts []inventory.Package
	count := h.packageCount
	if c.Full {
		current, err := s.hostSlots(ctx, tx, hostID)
		if err != nil {
			return 0, err
		}
		seen := make(map[string]bool, len(incoming))
		for _, p := range incoming {
			k := p.Name + "\x00" + p.Arch
			seen[k] = true
			if old := current[k]; old != interned[keyOf(format, p)] {
				upserts = append(upserts, p)
				released = append(released, old)
			}
		}
		for k, old := range current {
			if !seen[k] {
				deletes = append(deletes, k)
				released = append(released, old)
			}
		}
		count = len(seen)
	} else {
		changed := make([]string, 0, len(incoming)+len(c.Removes))
		for _, p := range incoming {
			changed = append(changed, p.Name+"\x00"+p.Arch)
		}
		removed := make(map[string]bool, len(c.Removes))
		for _, k := range c.Removes {
			name, arch, _ := strings.Cut(k, ":")
			removed[name+"\x00"+arch] = true
			changed = append(changed, name+"\x00"+arch)
		}
		current, err := s.slotVersions(ctx, tx, hostID, changed)
		if err != nil {
			return 0, err
		}
		// The count moves by the slots that appear and disappear, so no
		// check-in counts the host's packages.
		upserted := make(map[string]bool, len(incoming))
		for _, p := range incoming {
			k := p.Name + "\x00" + p.Arch
			if upserted[k] {
				continue
			}
			upserted[k] = true
			old, held := current[k]
			if !held {
				count++
			}
			if old != interned[keyOf(format, p)] {
				upserts = append(upserts, p)
				if held {
					released = append(released, old)
				}
			}
		}
		for k := range removed {
			if old, held := current[k]; held && !upserted[k] {
				deletes = append(deletes, k)
				released = append(released, old)
				count--
			}
		}
	}
	for _, k := range deletes {
		name, arch, _ := strings.Cut(k, "\x00")
		if _, err := s.txExec(ctx, tx, s.q(`DELETE FROM host_packages WHERE host_id = ? AND name = ? AND arch = ?`), hostID, name, arch); err != nil {
			return 0, err
		}
	}
	for start := 0; start < len(upserts); start += batchRows {
		end := min(start+batchRows, len(upserts))
		var b strings.Builder
		b.WriteString(`INSERT INTO host_packages (host_id, name, arch, pv_id) VALUES `)
		args := make([]any, 0, 4*(end-start))
		for i, p := range upserts[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, hostID, p.Name, p.Arch, interned[keyOf(format, p)])
		}
		b.WriteString(` ON CONFLICT (host_id, name, arch) DO UPDATE SET pv_id = excluded.pv_id`)
		if _, err := s.txExec(ctx, tx, s.q(b.String()), args...); err != nil {
			return 0, fmt.Errorf("store packages: %w", err)
		}
	}
	if err := s.pruneVersions(ctx, tx, released); err != nil {
		return 0, fmt.Errorf("remove package versions no host holds: %w", err)
	}

	updateCount := h.updateCount
	if c.Full || c.UpdatesChanged {
		if updateCount, err = s.replaceUpdates(ctx, tx, hostID, c.Updates); err != nil {
			return 0, err
		}
	}
	rev := h.revision
	if c.Full || len(upserts) > 0 || len(deletes) > 0 {
		rev++
	}
	if rev != h.revision || c.UpdatesChanged {
		if err := s.markToReconcile(ctx, tx, hostID, now); err != nil {
			return 0, fmt.Errorf("mark host to reconcile: %w", err)
		}
	}
	problems, _ := json.Marshal(nonNilSlice(c.Problems))
	labels := FactLabels(c.Facts)
	lb, _ := json.Marshal(labels)
	hash := factsHash(hostID, c.Facts, problems, lb, now)
	if hash == h.factsHash {
		_, err := s.txExec(ctx, tx, s.q(`UPDATE hosts SET last_seen_at = ?, revision = ?, package_count = ?, update_count = ? WHERE id = ?`),
			ms(now), rev, count, updateCount, hostID)
		return rev, err
	}
	var labelsJSON, userJSON string
	if err := s.txQueryRow(ctx, tx, s.q(`SELECT labels, user_labels FROM hosts WHERE id = ?`), hostID).Scan(&labelsJSON, &userJSON); err != nil {
		return 0, err
	}
	var old Host
	if err := errors.Join(json.Unmarshal([]byte(labelsJSON), &old.Labels), json.Unmarshal([]byte(userJSON), &old.UserLabels)); err != nil {
		return 0, fmt.Errorf("host %s: stored labels: %w", hostID, err)
	}
	facts, _ := json.Marshal(c.Facts)
	if _, err := s.txExec(ctx, tx, s.q(`UPDATE hosts SET facts = ?, facts_hash = ?, os_id = ?, os_version = ?, package_format = ?,
		reboot_required = ?, labels = ?, problems = ?, last_seen_at = ?, revision = ?, package_count = ?, update_count = ?
		WHERE id = ?`),
		string(facts), hash, c.Facts.OS.ID, c.Facts.OS.VersionID, string(format), c.Facts.RebootRequired, string(lb),
		string(problems), ms(now), rev, count, updateCount, hostID); err != nil {
		return 0, err
	}
	if !maps.Equal(labels, old.Labels) {
		old.Labels = labels
		if err := s.writeHostLabels(ctx, tx, hostID, old.EffectiveLabels()); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

// factsHash identifies what a check-in writes of the host besides its
// packages: the facts, the problems and the labels derived from the facts
// (so a release that derives other labels rewrites them). The uptime grows
// at every check-in, so it enters as the boot time to five minutes, and an
// hourly period staggered by host ID keeps the stored uptime at most about
// an hour old (at a 60 s interval one check-in in 60 writes it) without
// every host rewriting at the top of the hour.
func factsHash(hostID string, f inventory.Facts, problems, labels []byte, now time.Time) string {
	boot := now.Add(-f.Uptime).Truncate(5 * time.Minute).Unix()
	h := sha256.New()
	h.Write([]byte(hostID))
	stagger := binary.BigEndian.Uint32(h.Sum(nil)) % 3600
	period := (now.Unix() + int64(stagger)) / 3600
	f.Uptime = 0
	b, _ := json.Marshal(f)
	h.Reset()
	h.Write(b)
	h.Write([]byte{0})
	h.Write(problems)
	h.Write([]byte{0})
	h.Write(labels)
	fmt.Fprintf(h, "\x00%d\x00%d", boot, period)
	return hex.EncodeToString(h.Sum(nil))
}

// slotVersions maps those of the given slots ("name\x00arch") the host
// holds to their interned version IDs.
func (s *DB) slotVersions(ctx context.Context, tx *sql.Tx, hostID string, slots []string) (map[string]int64, error) {
	want := make(map[string]bool, len(slots))
	var names []string
	seenName := map[string]bool{}
	for _, k := range slots {
		want[k] = true
		name, _, _ := strings.Cut(k, "\x00")
		if !seenName[name] {
			seenName[name] = true
			names = append(names, name)
		}
	}
	out := make(map[string]int64, len(slots))
	for start := 0; start < len(names); start += batchRows {
		end := min(start+batchRows, len(names))
		args := []any{hostID}
		for _, n := range names[start:end] {
			args = append(args, n)
		}
		rows, err := s.txQuery(ctx, tx, s.q(`SELECT name, arch, pv_id FROM host_packages WHERE host_id = ? AND name IN (?`+
			strings.Repeat(`, ?`, end-start-1)+`)`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name, arch string
			var id int64
			if err := rows.Scan(&name, &arch, &id); err != nil {
				rows.Close()
				return nil, err
			}
			if k := name + "\x00" + arch; want[k] {
				out[k] = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pvCacheMax bounds the intern cache: about 25 MiB of keys. A miss costs
// one indexed lookup, so the cap only trades a little database work for a
// bounded heap on fleets with millions of distinct versions.
const pvCacheMax = 1 << 17

// cacheVersions adds committed version IDs to the intern cache, evicting
// arbitrary entries (Go's map order) to keep it under pvCacheMax. The
// caller holds s.mu.
func (s *DB) cacheVersions(ids map[pvKey]int64) {
	if over := len(s.pvCache) + len(ids) - pvCacheMax; over > 0 {
		// Evict a quarter more than needed, so eviction runs rarely.
		evict := over + pvCacheMax/4
		for k := range s.pvCache {
			if evict == 0 {
				break
			}
			delete(s.pvCache, k)
			evict--
		}
	}
	for k, id := range ids {
		if len(s.pvCache) >= pvCacheMax {
			break
		}
		s.pvCache[k] = id
	}
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hostSlots maps "name\x00arch" to the interned version ID installed there.
func (s *DB) hostSlots(ctx context.Context, q queryer, hostID string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT name, arch, pv_id FROM host_packages WHERE host_id = ?`), hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name, arch string
		var id int64
		if err := rows.Scan(&name, &arch, &id); err != nil {
			return nil, err
		}
		out[name+"\x00"+arch] = id
	}
	return out, rows.Err()
}

// intern finds or creates the package_versions rows of pkgs, records
// their IDs in out and returns how many rows it created.
//
// Keys are handled in one sorted order, so concurrent check-ins never wait
// for a row the other inserted while it waits for one they inserted. On
// PostgreSQL every row found (in the cache or the table) is also taken FOR
// KEY SHARE: a concurrent prune (pruneVersions) then leaves it alone, or,
// if it took the row first, makes us wait and we insert the key again
// once its removal has committed. So no check-in references a removed
// version, and a cached ID another replica removed is noticed here.
func (s *DB) intern(ctx context.Context, tx *sql.Tx, format inventory.Format, pkgs []inventory.Package, out map[pvKey]int64) (int, error) {
	keys := make([]pvKey, 0, len(pkgs))
	for _, p := range pkgs {
		k := keyOf(format, p)
		if _, dup := out[k]; !dup {
			out[k] = 0
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b pvKey) int {
		return cmp.Or(strings.Compare(a.format, b.format), strings.Compare(a.name, b.name), strings.Compare(a.version, b.version),
			strings.Compare(a.arch, b.arch), strings.Compare(a.source, b.source), strings.Compare(a.sourceVersion, b.sourceVersion))
	})
	created := 0
	for start := 0; start < len(keys); start += batchRows {
		batch := keys[start:min(start+batchRows, len(keys))]
		cached := map[pvKey]int64{}
		s.mu.RLock()
		for _, k := range batch {
			if id, ok := s.pvCache[k]; ok {
				cached[k] = id
			}
		}
		s.mu.RUnlock()
		held, err := s.lockVersions(ctx, tx, cached)
		if err != nil {
			return 0, err
		}
		for _, k := range batch {
			if id, ok := cached[k]; ok && held[id] {
				out[k] = id
				continue
			}
			id, isNew, err := s.internKey(ctx, tx, k)
			if err != nil {
				return 0, fmt.Errorf("intern package %s %s: %w", k.name, k.version, err)
			}
			if isNew {
				created++
			}
			out[k] = id
		}
	}
	return created, nil
}

// lockVersions returns which of the cached IDs still exist, taking them
// FOR KEY SHARE on PostgreSQL. SQLite's write transactions are serialised
// and its cache never holds a removed ID, so there it trusts the cache.
func (s *DB) lockVersions(ctx context.Context, tx *sql.Tx, cached map[pvKey]int64) (map[int64]bool, error) {
	held := make(map[int64]bool, len(cached))
	if len(cached) == 0 {
		return held, nil
	}
	ids := make([]int64, 0, len(cached))
	for _, id := range cached {
		ids = append(ids, id)
	}
	if s.dialect != Postgres {
		for _, id := range ids {
			held[id] = true
		}
		return held, nil
	}
	slices.Sort(ids)
	in, args := idList(ids)
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM package_versions WHERE id IN `+in+` ORDER BY id FOR KEY SHARE`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		held[id] = true
	}
	return held, rows.Err()
}

// internKey finds or creates the row of k (held FOR KEY SHARE on
// PostgreSQL) and says whether it created it.
func (s *DB) internKey(ctx context.Context, tx *sql.Tx, k pvKey) (int64, bool, error) {
	args := []any{k.format, k.name, k.version, k.arch, k.source, k.sourceVersion}
	lock := ""
	if s.dialect == Postgres {
		lock = ` FOR KEY SHARE`
	}
	for range 10 {
		var id int64
		err := s.txQueryRow(ctx, tx, s.q(`INSERT INTO package_versions (format, name, version, arch, source, source_version)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`), args...).Scan(&id)
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, err
		}
		// The row exists; a prune may be removing it, in which case the
		// locking read waits for it and finds nothing, and we insert again.
		err = s.txQueryRow(ctx, tx, s.q(`SELECT id FROM package_versions WHERE format = ? AND name = ? AND version = ?
			AND arch = ? AND source = ? AND source_version = ?`+lock), args...).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, err
		}
	}
	return 0, false, errVersionsGone
}

func (s *DB) replaceUpdates(ctx context.Context, tx *sql.Tx, hostID string, us []Update) (int, error) {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM host_updates WHERE host_id = ?`), hostID); err != nil {
		return 0, err
	}
	// One row per package slot: the newest the repositories offer is the
	// last one the agent lists for it.
	bySlot := make(map[string]Update, len(us))
	order := make([]string, 0, len(us))
	for _, u := range us {
		k := u.Name + "\x00" + u.Arch
		if _, ok := bySlot[k]; !ok {
			order = append(order, k)
		}
		bySlot[k] = u
	}
	for start := 0; start < len(order); start += batchRows {
		end := min(start+batchRows, len(order))
		var b strings.Builder
		b.WriteString(`INSERT INTO host_updates (host_id, name, arch, version, repo) VALUES `)
		args := make([]any, 0, 5*(end-start))
		for i, k := range order[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?)")
			u := bySlot[k]
			args = append(args, hostID, u.Name, u.Arch, u.Version, u.Repo)
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return 0, fmt.Errorf("store updates: %w", err)
		}
	}
	return len(order), nil
}

// ListHostPackages returns the host's installed packages by name and arch,
// each with the update its repositories offer, if any. Given names, only
// the packages of those names.
func (s *DB) ListHostPackages(ctx context.Context, hostID string, names ...string) ([]HostPackage, error) {
	named, args := "", []any{hostID}
	if len(names) > 0 {
		named = ` AND hp.name IN (?` + strings.Repeat(`, ?`, len(names)-1) + `)`
		for _, n := range names {
			args = append(args, n)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT pv.name, pv.version, pv.arch, pv.source, pv.source_version, pv.format,
			COALESCE((SELECT u.version FROM host_updates u WHERE u.host_id = hp.host_id AND u.name = hp.name
				AND (u.arch = hp.arch OR u.arch = '') ORDER BY u.arch DESC LIMIT 1), '')
		FROM host_packages hp JOIN package_versions pv ON pv.id = hp.pv_id
		WHERE hp.host_id = ?`+named+` ORDER BY hp.name, hp.arch`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HostPackage
	for rows.Next() {
		var p HostPackage
		var format string
		if err := rows.Scan(&p.Name, &p.Version, &p.Arch, &p.Source, &p.SourceVersion, &format, &p.UpdateVersion); err != nil {
			return nil, err
		}
		p.Format = inventory.Format(format)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListHostUpdates returns the updates the host's repositories offer.
func (s *DB) ListHostUpdates(ctx context.Context, hostID string) ([]Update, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name, arch, version, repo FROM host_updates WHERE host_id = ? ORDER BY name, arch`), hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Update
	for rows.Next() {
		var u Update
		if err := rows.Scan(&u.Name, &u.Arch, &u.Version, &u.Repo); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
