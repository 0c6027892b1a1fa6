package advisory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/patchbay/patchbay/internal/version"
)

// MaxRecordSize is the largest OSV record accepted, in bytes. The largest
// real records (Ubuntu CVEs naming every kernel flavour) are about 1 MiB.
const MaxRecordSize = 8 << 20

// Limits on the contents of one record, against hostile feeds.
const (
	maxIDLen        = 256
	maxListLen      = 100_000 // affected entries, versions, events, references
	maxTextLen      = 1 << 20 // summary and details
	maxPackageLen   = 512
	maxEcosystemLen = 128
)

// osvRecord mirrors the parts of the OSV schema (1.0-1.7) that are used.
type osvRecord struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Upstream         []string        `json:"upstream"`
	Related          []string        `json:"related"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		Purl      string `json:"purl"`
	} `json:"package"`
	Severity          []osvSeverity `json:"severity"`
	Ranges            []osvRange    `json:"ranges"`
	Versions          []string      `json:"versions"`
	EcosystemSpecific struct {
		Binaries []struct {
			Name string `json:"binary_name"`
		} `json:"binaries"`
		UbuntuPriority string `json:"ubuntu_priority"`
		Severity       string `json:"severity"`
	} `json:"ecosystem_specific"`
	DatabaseSpecific osvDatabaseSpecific `json:"database_specific"`
}

type osvRange struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

// osvDatabaseSpecific holds the database_specific fields this package reads;
// the object is free-form, so anything unexpected in it is ignored.
type osvDatabaseSpecific struct {
	Severity string
	CVEs     []string
}

func (d *osvDatabaseSpecific) UnmarshalJSON(b []byte) error {
	var raw struct {
		Severity json.RawMessage `json:"severity"`
		CVEsMap  struct {
			CVEs []struct {
				ID       string        `json:"id"`
				Severity []osvSeverity `json:"severity"`
			} `json:"cves"`
		} `json:"cves_map"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		// database_specific is free-form: a shape we do not expect is
		// not an error in the record.
		return nil
	}
	_ = json.Unmarshal(raw.Severity, &d.Severity) // a string, or something else to ignore
	for _, c := range raw.CVEsMap.CVEs {
		d.CVEs = append(d.CVEs, c.ID)
		for _, s := range c.Severity {
			if s.Type == "Ubuntu" {
				d.Severity = higherSeverity(severityWord(d.Severity), severityWord(s.Score))
			}
		}
	}
	return nil
}

var summarySeverity = regexp.MustCompile(`^(Critical|Important|Moderate|Low):`)

var cvePattern = regexp.MustCompile(`CVE-[0-9]{4}-[0-9]{4,}`)

// ParseOSV parses one OSV JSON record read from r; name (a file name or zip
// entry) is used in errors. The record is validated: it needs an id and a
// modified time, every affected package needs a known ecosystem and a name,
// and every range version must be valid in that ecosystem's version format.
func ParseOSV(r io.Reader, name string) (Advisory, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return Advisory{}, fmt.Errorf("read %s: %w", name, err)
	}
	return parseOSVNamed(data, name)
}

// trailingData reports whether data holds one valid JSON value followed by
// more than white space.
func trailingData(data []byte) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if err := dec.SkipValue(); err != nil {
		return false
	}
	_, err := dec.ReadToken()
	return err != io.EOF
}

func parseOSV(data []byte) (Advisory, error) {
	var rec osvRecord
	// The JSON v2 decoder reads a record in one pass (encoding/json scans it
	// twice), about half of an import's CPU; the options keep
	// encoding/json's leniency: names match case-insensitively, a repeated
	// name keeps the last value, invalid UTF-8 becomes U+FFFD.
	if err := jsonv2.Unmarshal(data, &rec, jsonv2.MatchCaseInsensitiveNames(true), jsontext.AllowDuplicateNames(true),
		jsontext.AllowInvalidUTF8(true)); err != nil {
		if trailingData(data) {
			return Advisory{}, errors.New("invalid OSV JSON: data after the record")
		}
		return Advisory{}, fmt.Errorf("invalid OSV JSON: %w", err)
	}
	if err := checkID("id", rec.ID); err != nil {
		return Advisory{}, err
	}
	adv := Advisory{
		ID:       rec.ID,
		Source:   SourceOSV,
		Summary:  rec.Summary,
		Details:  rec.Details,
		Aliases:  rec.Aliases,
		Upstream: rec.Upstream,
		Related:  rec.Related,
	}
	if len(adv.Summary) > maxTextLen || len(adv.Details) > maxTextLen {
		return Advisory{}, fmt.Errorf("%s: summary or details longer than %d bytes", rec.ID, maxTextLen)
	}
	for _, list := range [][]string{rec.Aliases, rec.Upstream, rec.Related} {
		if len(list) > maxListLen {
			return Advisory{}, fmt.Errorf("%s: more than %d aliases", rec.ID, maxListLen)
		}
		for _, id := range list {
			if err := checkID("alias", id); err != nil {
				return Advisory{}, fmt.Errorf("%s: %w", rec.ID, err)
			}
		}
	}
	var err error
	if rec.Modified == "" {
		return Advisory{}, fmt.Errorf("%s: no modified time", rec.ID)
	}
	if adv.Modified, err = parseTime(rec.Modified); err != nil {
		return Advisory{}, fmt.Errorf("%s: modified: %w", rec.ID, err)
	}
	if rec.Published != "" {
		if adv.Published, err = parseTime(rec.Published); err != nil {
			return Advisory{}, fmt.Errorf("%s: published: %w", rec.ID, err)
		}
	}
	if rec.Withdrawn != "" {
		t, err := parseTime(rec.Withdrawn)
		if err != nil {
			return Advisory{}, fmt.Errorf("%s: withdrawn: %w", rec.ID, err)
		}
		adv.Withdrawn = &t
	}
	for _, s := range rec.Severity {
		adv.Severity = append(adv.Severity, Severity(s))
		if s.Type == "Ubuntu" {
			adv.SeverityWord = higherSeverity(adv.SeverityWord, severityWord(s.Score))
		}
	}
	if len(rec.References) > maxListLen {
		return Advisory{}, fmt.Errorf("%s: more than %d references", rec.ID, maxListLen)
	}
	for _, ref := range rec.References {
		if ref.URL != "" {
			adv.References = append(adv.References, ref.URL)
		}
	}
	var top osvDatabaseSpecific
	if len(rec.DatabaseSpecific) > 0 {
		_ = top.UnmarshalJSON(rec.DatabaseSpecific)
	}
	adv.SeverityWord = higherSeverity(adv.SeverityWord, severityWord(top.Severity))

	if len(rec.Affected) > maxListLen {
		return Advisory{}, fmt.Errorf("%s: more than %d affected entries", rec.ID, maxListLen)
	}
	cves := slices.Concat([]string{rec.ID}, rec.Aliases, rec.Upstream, rec.Related, top.CVEs)
	for i, ra := range rec.Affected {
		a, word, err := convertAffected(ra)
		if err != nil {
			return Advisory{}, fmt.Errorf("%s: affected[%d]: %w", rec.ID, i, err)
		}
		adv.Affected = append(adv.Affected, a)
		adv.SeverityWord = higherSeverity(adv.SeverityWord, word)
		cves = append(cves, ra.DatabaseSpecific.CVEs...)
	}
	if adv.SeverityWord == "" {
		if m := summarySeverity.FindStringSubmatch(rec.Summary); m != nil {
			adv.SeverityWord = severityWord(m[1])
		}
	}
	adv.CVEs = cveIDs(cves)
	return adv, nil
}

// convertAffected validates one affected entry and returns it with the
// severity word it carries.
func convertAffected(ra osvAffected) (Affected, string, error) {
	eco, name := ra.Package.Ecosystem, ra.Package.Name
	if eco == "" || len(eco) > maxEcosystemLen {
		return Affected{}, "", fmt.Errorf("missing or overlong ecosystem")
	}
	d, ok := ParseEcosystem(eco)
	if !ok {
		return Affected{}, "", fmt.Errorf("unknown ecosystem %q", eco)
	}
	if name == "" || len(name) > maxPackageLen || strings.ContainsFunc(name, isSpaceOrControl) {
		return Affected{}, "", fmt.Errorf("%s: missing or malformed package name %q", eco, truncate(name))
	}
	a := Affected{Ecosystem: eco, Distro: d, Package: name}
	if len(ra.Versions) > maxListLen || len(ra.Ranges) > maxListLen {
		return Affected{}, "", fmt.Errorf("%s %s: too many versions or ranges", eco, name)
	}
	for _, v := range ra.Versions {
		if !version.Valid(d.Format, v) {
			_, err := version.Compare(d.Format, v, v)
			return Affected{}, "", fmt.Errorf("%s %s: versions: %w", eco, name, err)
		}
	}
	a.Versions = ra.Versions
	for _, rr := range ra.Ranges {
		r, err := convertRange(d.Format, rr)
		if err != nil {
			return Affected{}, "", fmt.Errorf("%s %s: %w", eco, name, err)
		}
		a.Ranges = append(a.Ranges, r)
	}
	for _, b := range ra.EcosystemSpecific.Binaries {
		if b.Name != "" {
			a.Binaries = append(a.Binaries, b.Name)
		}
	}
	word := higherSeverity(severityWord(ra.EcosystemSpecific.UbuntuPriority), severityWord(ra.EcosystemSpecific.Severity))
	word = higherSeverity(word, severityWord(ra.DatabaseSpecific.Severity))
	for _, s := range ra.Severity {
		if s.Type == "Ubuntu" {
			word = higherSeverity(word, severityWord(s.Score))
		}
	}
	return a, word, nil
}

func convertRange(format version.Ecosystem, rr osvRange) (Range, error) {
	r := Range{Type: rr.Type}
	switch rr.Type {
	case RangeEcosystem, RangeSemver, RangeGit:
	default:
		return Range{}, fmt.Errorf("unknown range type %q", truncate(rr.Type))
	}
	if len(rr.Events) == 0 || len(rr.Events) > maxListLen {
		return Range{}, fmt.Errorf("%s range with %d events", rr.Type, len(rr.Events))
	}
	introduced := false
	for _, m := range rr.Events {
		if len(m) != 1 {
			return Range{}, fmt.Errorf("event with %d fields, want exactly one", len(m))
		}
		var e Event
		for k, v := range m {
			if v == "" {
				return Range{}, fmt.Errorf("event %q has an empty version", k)
			}
			switch k {
			case "introduced":
				e.Introduced, introduced = v, true
			case "fixed":
				e.Fixed = v
			case "last_affected":
				e.LastAffected = v
			case "limit":
				e.Limit = v
			default:
				return Range{}, fmt.Errorf("unknown event %q", truncate(k))
			}
			if rr.Type == RangeGit || (k == "introduced" && v == "0") || (k == "limit" && v == "*") {
				continue
			}
			if !version.Valid(format, v) {
				_, err := version.Compare(format, v, v)
				return Range{}, fmt.Errorf("%s event: %w", k, err)
			}
		}
		r.Events = append(r.Events, e)
	}
	if !introduced {
		return Range{}, fmt.Errorf("%s range without an introduced event", rr.Type)
	}
	if rr.Type != RangeGit {
		// "limit: *" means no limit.
		r.Events = slices.DeleteFunc(r.Events, func(e Event) bool { return e.Limit == "*" })
	}
	return r, nil
}

func checkID(field, id string) error {
	if id == "" {
		return fmt.Errorf("missing %s", field)
	}
	if len(id) > maxIDLen || strings.ContainsFunc(id, isSpaceOrControl) {
		return fmt.Errorf("malformed %s %q", field, truncate(id))
	}
	return nil
}

// cveIDs returns the unique, sorted CVE IDs named in ids, including those
// embedded in distribution IDs such as "UBUNTU-CVE-2025-6297".
func cveIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if m := cvePattern.FindString(id); m != "" && strings.HasSuffix(id, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parseTime accepts RFC 3339 and, as some feeds write, a time without zone
// (taken as UTC) or a bare date.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable time %q", truncate(s))
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfeff
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
