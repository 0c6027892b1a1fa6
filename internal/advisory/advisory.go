package advisory

import (
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/version"
)

// Source names used in Advisory.Source and Feed.Source.
const (
	SourceOSV         = "osv"
	SourceAlpineSecDB = "alpine-secdb"
	SourceKEV         = "cisa-kev"
	SourceEPSS        = "first-epss"
)

// Advisory is one security advisory in OSV shape.
type Advisory struct {
	ID       string
	Aliases  []string // OSV "aliases": the same vulnerability under other IDs
	Upstream []string // OSV "upstream" (schema 1.7): records this one derives from
	Related  []string // OSV "related": connected but not the same vulnerability
	// CVEs lists every CVE ID the record names in ID, aliases, upstream,
	// related, or Ubuntu's database_specific.cves_map, sorted and unique.
	CVEs   []string
	Source string // SourceOSV or SourceAlpineSecDB

	Summary, Details string
	Published        time.Time
	Modified         time.Time
	Withdrawn        *time.Time

	Severity []Severity
	// SeverityWord is "critical", "high", "medium", "low" or "" (unknown),
	// from the feed's own rating: an Ubuntu priority or "Ubuntu" severity,
	// database_specific.severity, or a summary prefix such as "Important:".
	SeverityWord string

	Affected   []Affected
	References []string
}

// Severity is one OSV severity entry.
type Severity struct {
	Type  string // "CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu"
	Score string // a CVSS vector, or a word for "Ubuntu"
}

// Affected is one package in one ecosystem named by an advisory.
type Affected struct {
	Ecosystem string // as the feed writes it, e.g. "Ubuntu:22.04:LTS"
	Distro    Distro // parsed from Ecosystem
	Package   string // source package name as the feed names it
	Ranges    []Range
	Versions  []string // explicit affected versions
	Binaries  []string // binary packages built from Package (Ubuntu USN ecosystem_specific.binaries)
}

// Range types.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Range is one OSV range.
type Range struct {
	Type   string
	Events []Event
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced, Fixed, LastAffected, Limit string
}

func (e Event) value() string {
	switch {
	case e.Introduced != "":
		return e.Introduced
	case e.Fixed != "":
		return e.Fixed
	case e.LastAffected != "":
		return e.LastAffected
	}
	return e.Limit
}

// FixedVersions returns the fixed versions named by a's ranges, in order.
func (a Affected) FixedVersions() []string {
	var out []string
	for _, r := range a.Ranges {
		for _, e := range r.Events {
			if e.Fixed != "" {
				out = append(out, e.Fixed)
			}
		}
	}
	return out
}

// Affects reports whether the advisory affects version v of package pkg in
// distro d: false for a withdrawn advisory, otherwise true if any Affected
// entry for the same distro ID and release (any variant) and package says so.
// fixed is the lowest fixed version among the entries that say so.
func (adv Advisory) Affects(d Distro, pkg, v string) (affected bool, fixed string, err error) {
	if adv.Withdrawn != nil {
		return false, "", nil
	}
	for _, a := range adv.Affected {
		if a.Package != pkg || a.Distro.ID != d.ID || a.Distro.Release != d.Release {
			continue
		}
		ok, f, err := a.IsAffected(v)
		if err != nil {
			return false, "", err
		}
		if !ok {
			continue
		}
		if !affected || lower(a.Distro.Format, f, fixed) {
			fixed = f
		}
		affected = true
	}
	return affected, fixed, nil
}

// lower reports whether fixed version f is a better answer than cur: any fix
// beats none, and a lower fix beats a higher one.
func lower(eco version.Ecosystem, f, cur string) bool {
	if f == "" {
		return false
	}
	if cur == "" {
		return true
	}
	c, err := version.Compare(eco, f, cur)
	return err == nil && c < 0
}

// Rejection is one record a reader refused, and why.
type Rejection struct {
	Record string // file name, zip entry, record ID or line number
	Reason string
}

// Feed is the result of reading one feed.
type Feed struct {
	Name       string
	Source     string
	Advisories []Advisory
	KEV        []KEVEntry
	EPSS       []EPSSScore
	EPSSModel  ModelInfo
	KEVCatalog ModelInfo // the KEV JSON's catalogVersion and dateReleased
	Rejected   []Rejection
	// Duplicates counts records skipped because an identical copy (same ID,
	// same content) was already read.
	Duplicates int
	// Unchanged counts records skipped unparsed because their bytes are
	// those an earlier import stored (ReadOptions.Stored).
	Unchanged int
	// RawSums maps each advisory read to the hex SHA-256 of the record's
	// bytes, for the next read's ReadOptions.Stored (OSV only).
	RawSums map[string]string
}

// severityWord maps a feed's rating word to critical, high, medium, low or "".
func severityWord(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return "critical"
	case "high", "important":
		return "high"
	case "medium", "moderate":
		return "medium"
	case "low", "negligible":
		return "low"
	}
	return ""
}

var severityRank = map[string]int{"": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// higherSeverity returns the more severe of two words.
func higherSeverity(a, b string) string {
	if severityRank[b] > severityRank[a] {
		return b
	}
	return a
}
