package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/inventory"
)

// FleetHost is one host for LoadFleet: as enrolled, after its last full
// check-in, with the findings its history left.
type FleetHost struct {
	// Host: ID, Hostname, EnrolledAt, LastSeenAt, CertSerial, CertNotAfter,
	// UserLabels and EnrollTokenID are stored; labels come from Facts.
	Host     Host
	Facts    inventory.Facts
	Packages []inventory.Package // installed now
	Updates  []Update
	Findings []FleetFinding
}

// FleetFinding is one finding of a FleetHost, open or resolved. An open
// finding's package must be installed at InstalledVersion; a resolved one's
// has since been upgraded or removed (or the advisory changed), and its
// resolution text is derived from the host's packages as reconciliation
// derives it.
type FleetFinding struct {
	ID                             string // "" for a new UUID
	Name, Arch, AdvisoryID         string
	InstalledVersion, FixedVersion string
	// Source and SourceVersion name the affected package's source, when
	// it is no longer installed (else the installed package's are used).
	Source, SourceVersion string
	FixAvailable          bool
	FirstSeen             time.Time
	ResolvedAt            *time.Time
	Severity              string
	Priority              float64
	SSVC                  string
	Reasons               []string
	KEV                   bool
	DueAt                 *time.Time
	DueReason             string
}

// LoadFleet writes hosts with their packages, available updates, match
// results and findings (with their opened/resolved history and report
// rows) in one transaction: the rows enrollment, a full check-in,
// matching, reconciliation and scoring would have left, without the tens
// of thousands of committed transactions those take. It is for tests and
// benchmarks (see package storetest), not for serving agents. Hosts must
// be new; the advisories the findings name should already be imported.
func (s *DB) LoadFleet(ctx context.Context, hosts []FleetHost) error {
	interned := map[pvKey]int64{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var hostArgs, pkgArgs, findingArgs, eventArgs []any
		type match struct {
			distro, release string
			pv              int64
			adv, fixed      string
		}
		matched := map[[3]any]bool{}
		var matches []match
		hostIDs := make([]string, 0, len(hosts))
		for _, fh := range hosts {
			h, format := fh.Host, fh.Facts.PackageFormat
			hostIDs = append(hostIDs, h.ID)
			installed := make(map[string]inventory.Package, len(fh.Packages))
			for _, p := range fh.Packages {
				installed[p.Name+"\x00"+p.Arch] = p
			}
			// The findings' package versions were interned when they were
			// installed, and matched.
			pvs := make([]inventory.Package, 0, len(fh.Packages)+len(fh.Findings))
			pvs = append(pvs, fh.Packages...)
			for _, f := range fh.Findings {
				p, ok := installed[f.Name+"\x00"+f.Arch]
				if f.ResolvedAt == nil && (!ok || p.Version != f.InstalledVersion) {
					return fmt.Errorf("host %s: open finding %s on %s %s, which is not installed", h.ID, f.AdvisoryID, f.Name, f.InstalledVersion)
				}
				if !ok {
					p = inventory.Package{Name: f.Name, Arch: f.Arch, Source: f.Source, SourceVersion: f.SourceVersion}
				}
				p.Version = f.InstalledVersion
				pvs = append(pvs, p)
			}
			if _, err := s.intern(ctx, tx, format, pvs, interned); err != nil {
				return err
			}
			distro, release := fh.Facts.OS.ID, fh.Facts.OS.VersionID
			for _, p := range pvs {
				k := [3]any{distro, release, interned[keyOf(format, p)]}
				if !matched[k] {
					matched[k] = true
					matches = append(matches, match{distro: distro, release: release, pv: interned[keyOf(format, p)]})
				}
			}

			h.Labels = FactLabels(fh.Facts)
			h.UserLabels = nonNilMap(h.UserLabels)
			facts, _ := json.Marshal(fh.Facts)
			labels, _ := json.Marshal(h.Labels)
			user, _ := json.Marshal(h.UserLabels)
			updates := map[string]bool{}
			for _, u := range fh.Updates {
				updates[u.Name+"\x00"+u.Arch] = true
			}
			hostArgs = append(hostArgs, h.ID, h.Hostname, string(facts), fh.Facts.OS.ID, fh.Facts.OS.VersionID, string(format),
				fh.Facts.RebootRequired, string(labels), string(user), "[]", ms(h.EnrolledAt), ms(h.LastSeenAt), h.CertSerial,
				ms(h.CertNotAfter), int64(1), len(installed), len(updates), h.EnrollTokenID)
			for _, p := range installed {
				pkgArgs = append(pkgArgs, h.ID, p.Name, p.Arch, interned[keyOf(format, p)])
			}
			for _, f := range fh.Findings {
				id := f.ID
				if id == "" {
					id = uuid.NewString()
				}
				p, ok := installed[f.Name+"\x00"+f.Arch]
				if !ok {
					p = inventory.Package{Name: f.Name, Arch: f.Arch, Source: f.Source, SourceVersion: f.SourceVersion}
				}
				p.Version = f.InstalledVersion
				pv := interned[keyOf(format, p)]
				matches = append(matches, match{distro, release, pv, f.AdvisoryID, f.FixedVersion})
				status, resolution := "open", ""
				eventArgs = append(eventArgs, id, ms(f.FirstSeen), "opened",
					fmt.Sprintf("%s %s affected by %s, fixed in %s", f.Name, f.InstalledVersion, f.AdvisoryID, orNone(f.FixedVersion)))
				if f.ResolvedAt != nil {
					p, ok := installed[f.Name+"\x00"+f.Arch]
					status, resolution = "resolved", resolutionReason(f.Name, f.InstalledVersion, p.Version, ok)
					eventArgs = append(eventArgs, id, ms(*f.ResolvedAt), "resolved", resolution)
				}
				reasons, _ := json.Marshal(nonNilSlice(f.Reasons))
				findingArgs = append(findingArgs, id, h.ID, f.Name, f.Arch, f.AdvisoryID, f.InstalledVersion, f.FixedVersion,
					f.FixAvailable, status, ms(f.FirstSeen), msPtr(f.ResolvedAt), resolution, f.Severity, f.Priority, f.SSVC,
					string(reasons), f.KEV, msPtr(f.DueAt), f.DueReason)
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO hosts (id, hostname, facts, os_id, os_version, package_format,
			reboot_required, labels, user_labels, problems, enrolled_at, last_seen_at, cert_serial, cert_not_after,
			revision, package_count, update_count, enroll_token_id)`, 18, hostArgs); err != nil {
			return err
		}
		for _, fh := range hosts {
			h := fh.Host
			h.Labels = FactLabels(fh.Facts)
			if err := s.writeHostLabels(ctx, tx, h.ID, h.EffectiveLabels()); err != nil {
				return err
			}
			if _, err := s.replaceUpdates(ctx, tx, h.ID, fh.Updates); err != nil {
				return err
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO host_packages (host_id, name, arch, pv_id)`, 4, pkgArgs); err != nil {
			return err
		}
		var matchedArgs, matchArgs []any
		seen := map[match]bool{}
		for _, m := range matches {
			if m.adv == "" {
				matchedArgs = append(matchedArgs, m.distro, m.release, m.pv)
			} else if !seen[m] {
				seen[m] = true
				matchArgs = append(matchArgs, m.distro, m.release, m.pv, m.adv, m.fixed)
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO pv_matched (distro, release, pv_id)`, 3, matchedArgs, ` ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO pv_matches (distro, release, pv_id, advisory_id, fixed)`, 5, matchArgs, ` ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO findings (id, host_id, name, arch, advisory_id, installed_version,
			fixed_version, fix_available, status, first_seen_at, resolved_at, resolution, severity, priority, ssvc,
			reasons, kev, due_at, due_reason)`, 19, findingArgs); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO finding_events (finding_id, at, kind, detail)`, 4, eventArgs); err != nil {
			return err
		}
		return s.refreshReport(ctx, tx, hostIDs)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for k, id := range interned {
		s.pvCache[k] = id
	}
	s.mu.Unlock()
	return nil
}

// insertRows runs insert (up to VALUES) over args, cols values a row, in
// multi-row statements of batchRows rows, each followed by suffix.
func (s *DB) insertRows(ctx context.Context, tx *sql.Tx, insert string, cols int, args []any, suffix ...string) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < len(args); start += batchRows * cols {
		end := min(start+batchRows*cols, len(args))
		n := (end - start) / cols
		q := insert + " VALUES " + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + strings.Join(suffix, "")
		if _, err := tx.ExecContext(ctx, s.q(q), args[start:end]...); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(insert)[2], err)
		}
	}
	return nil
}
