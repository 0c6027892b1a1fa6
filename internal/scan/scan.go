// Package scan matches one host's inventory against feeds read from a
// local directory, with no server: `patchbay scan`. It uses the same
// matcher, version ordering and risk scoring as the server.
//
// Reading the complete AlmaLinux OSV tree takes over a second, so the
// parsed feeds are cached (gob) in a cache directory, keyed by the path,
// size and modification time of every file under the feeds directory; a
// change to any file rebuilds the cache.
package scan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/match"
	"github.com/patchbay/patchbay/internal/risk"
)

// Feeds is everything read from a feeds directory.
type Feeds struct {
	Advisories []advisory.Advisory
	KEV        map[string]advisory.KEVEntry
	EPSS       map[string]advisory.EPSSScore
	Rejected   []advisory.Rejection
}

// LoadFeeds reads every feed under dir (see advisory.ReadDir), through the
// cache in cacheDir when it is not empty. cached says the cache answered.
func LoadFeeds(ctx context.Context, dir, cacheDir string) (f Feeds, cached bool, err error) {
	var cachePath string
	if cacheDir != "" {
		key, err := fingerprint(dir)
		if err != nil {
			return Feeds{}, false, err
		}
		cachePath = filepath.Join(cacheDir, "patchbay-scan-"+key+".gob")
		if file, err := os.Open(cachePath); err == nil {
			err = gob.NewDecoder(file).Decode(&f)
			file.Close()
			if err == nil {
				return f, true, nil
			}
		}
	}
	feeds, rej, err := advisory.ReadDir(ctx, dir)
	if err != nil {
		return Feeds{}, false, err
	}
	f = Feeds{KEV: map[string]advisory.KEVEntry{}, EPSS: map[string]advisory.EPSSScore{}, Rejected: rej}
	for _, fd := range feeds {
		f.Advisories = append(f.Advisories, fd.Advisories...)
		f.Rejected = append(f.Rejected, fd.Rejected...)
		for _, k := range fd.KEV {
			f.KEV[k.CVE] = k
		}
		for _, e := range fd.EPSS {
			f.EPSS[e.CVE] = e
		}
	}
	// Scores of CVEs no advisory names can never reach a finding; dropping
	// them keeps the cache small (EPSS covers 360,000 CVEs).
	named := map[string]bool{}
	for _, a := range f.Advisories {
		for _, c := range a.CVEs {
			named[c] = true
		}
	}
	for c := range f.EPSS {
		if !named[c] {
			delete(f.EPSS, c)
		}
	}
	if cachePath != "" {
		if err := writeCache(cachePath, f); err != nil {
			return f, false, fmt.Errorf("write scan cache: %w", err)
		}
	}
	return f, false, nil
}

func writeCache(path string, f Feeds) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(f); err != nil {
		return err
	}
	return durable.WriteFile(path, buf.Bytes(), 0o600)
}

// fingerprint hashes the names, sizes and times of every file under dir.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(h, abs)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// Finding is one advisory affecting one installed package.
type Finding struct {
	Package          string    `json:"package"`
	Arch             string    `json:"arch,omitempty"`
	InstalledVersion string    `json:"installed_version"`
	FixedVersion     string    `json:"fixed_version,omitempty"`
	FixAvailable     bool      `json:"fix_available"`
	AdvisoryID       string    `json:"advisory_id"`
	CVEs             []string  `json:"cves"`
	Summary          string    `json:"summary,omitempty"`
	Severity         string    `json:"severity"`
	Priority         float64   `json:"priority"`
	SSVC             string    `json:"ssvc"`
	KEV              bool      `json:"kev"`
	EPSS             float64   `json:"epss"`
	DueAt            time.Time `json:"due_at"`
	DueReason        string    `json:"due_reason"`
	Reasons          []string  `json:"reasons"`
}

// Options are the host context a server would know from groups.
type Options struct {
	Criticality    int
	InternetFacing bool
	Updates        map[string]string // name (or name:arch) → version the repositories offer
}

// Scan matches a snapshot against feeds. It returns an error when no feed
// ordering covers the host's distribution.
func Scan(snap inventory.Snapshot, f Feeds, opt Options, now time.Time) ([]Finding, error) {
	distro, release, ok := match.Release(snap.Facts.OS.ID, snap.Facts.OS.VersionID)
	if !ok {
		return nil, fmt.Errorf("no feed covers %s %s (supported: Ubuntu, Debian, AlmaLinux, Rocky, RHEL, Alpine)", snap.Facts.OS.ID, snap.Facts.OS.VersionID)
	}
	ix := match.NewIndex()
	byID := make(map[string]*advisory.Advisory, len(f.Advisories))
	for i := range f.Advisories {
		a := &f.Advisories[i]
		byID[a.ID] = a
	}
	ix.Put(f.Advisories...)
	sla := risk.DefaultSLA()
	var out []Finding
	for _, p := range snap.Packages {
		ms, _ := ix.Match(match.Tuple{Distro: distro, Release: release, Name: p.Name, Version: p.Version,
			Source: p.Source, SourceVersion: p.SourceVersion})
		for _, m := range ms {
			a := byID[m.AdvisoryID]
			fd := Finding{Package: p.Name, Arch: p.Arch, InstalledVersion: p.Version, FixedVersion: m.Fixed,
				AdvisoryID: m.AdvisoryID, CVEs: a.CVEs, Summary: a.Summary, EPSS: -1}
			if fd.CVEs == nil {
				fd.CVEs = []string{}
			}
			in := risk.Input{FeedSeverity: risk.SeverityFromWord(a.SeverityWord), EPSS: -1, EPSSPercentile: -1,
				Criticality: opt.Criticality, InternetFacing: opt.InternetFacing}
			for _, sv := range a.Severity {
				in.CVSS = append(in.CVSS, sv.Score)
			}
			var kevDue *time.Time
			for _, c := range a.CVEs {
				if k, ok := f.KEV[c]; ok {
					in.KEV, in.Ransomware = true, in.Ransomware || k.Ransomware
					d := k.DueDate
					if kevDue == nil || d.Before(*kevDue) {
						kevDue = &d
					}
				}
				if e, ok := f.EPSS[c]; ok && e.Score > in.EPSS {
					in.EPSS, in.EPSSPercentile = e.Score, e.Percentile
				}
			}
			if u, ok := opt.Updates[p.Name+":"+p.Arch]; ok && m.Fixed != "" {
				fd.FixAvailable = u != "" && compareGE(snap.Facts.PackageFormat, u, m.Fixed)
			} else if u, ok := opt.Updates[p.Name]; ok && m.Fixed != "" {
				fd.FixAvailable = compareGE(snap.Facts.PackageFormat, u, m.Fixed)
			}
			in.FixAvailable = fd.FixAvailable
			res := risk.Score(in)
			fd.Severity, fd.Priority, fd.SSVC, fd.Reasons, fd.KEV, fd.EPSS = string(res.Severity), res.Priority, string(res.SSVC), res.Reasons, in.KEV, in.EPSS
			fd.DueAt, fd.DueReason = sla.Due(res.Severity, now, in.KEV, kevDue)
			out = append(out, fd)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		if a.Priority != b.Priority {
			if a.Priority > b.Priority {
				return -1
			}
			return 1
		}
		if a.Package != b.Package {
			if a.Package < b.Package {
				return -1
			}
			return 1
		}
		if a.AdvisoryID < b.AdvisoryID {
			return -1
		}
		if a.AdvisoryID > b.AdvisoryID {
			return 1
		}
		return 0
	})
	return out, nil
}
