package advisory

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/version"
)

// MaxSecDBSize is the largest Alpine secdb document accepted, in bytes (the
// real ones are below 200 KiB).
const MaxSecDBSize = 64 << 20

type secdbDocument struct {
	DistroVersion string        `json:"distroversion"`
	RepoName      string        `json:"reponame"`
	Packages      secdbPackages `json:"packages"`
}

type secdbPackage struct {
	Pkg struct {
		Name     string                     `json:"name"`
		Secfixes map[string]json.RawMessage `json:"secfixes"`
	} `json:"pkg"`
}

// secdbPackages also accepts "" and null: an empty YAML list converted to
// JSON as a string (v3.3/community) means no packages.
type secdbPackages []secdbPackage

func (p *secdbPackages) UnmarshalJSON(b []byte) error {
	if s := string(b); s == `""` || s == "null" {
		*p = nil
		return nil
	}
	var list []secdbPackage
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*p = list
	return nil
}

var secdbCVE = regexp.MustCompile(`^CVE[-_]([0-9]{4})-([0-9]{4,})`)

// ReadAlpineSecDB reads one Alpine secdb JSON document (one release and
// repository, e.g. v3.11/main.json); name is used in Feed.Name.
//
// Each package's secfixes maps a fixed version to the vulnerability IDs it
// fixes. The result has one Advisory per (release, package, ID), with ID
// "ALPINE-<release>-<package>-<id>", ecosystem "Alpine:<release>" and an
// ECOSYSTEM range {introduced "0", fixed <version>}. Real entries carry notes
// after the ID ("CVE-2019-5060 TALOS-2019-0844", "CVE-2018-14468 (FrameRelay)")
// and the odd typo ("CVE_2019-2426"): the first word is the ID and a CVE ID
// found at its start becomes the alias. The fixed version "0" means the
// release was never affected, so it yields no advisory. When an ID is listed
// under several fixed versions of one package, the highest is kept (a repeat
// listing means the earlier fix was incomplete) and the others are reported
// as rejected, so nothing is dropped silently.
func ReadAlpineSecDB(r io.Reader, name string) (Feed, error) {
	feed := Feed{Name: name, Source: SourceAlpineSecDB}
	data, err := io.ReadAll(io.LimitReader(r, MaxSecDBSize+1))
	if err != nil {
		return Feed{}, fmt.Errorf("read secdb %s: %w", name, err)
	}
	if len(data) > MaxSecDBSize {
		return Feed{}, fmt.Errorf("read secdb %s: larger than %d bytes", name, MaxSecDBSize)
	}
	var doc secdbDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return Feed{}, fmt.Errorf("read secdb %s: invalid JSON: %w", name, err)
	}
	eco := "Alpine:" + doc.DistroVersion
	distro, ok := ParseEcosystem(eco)
	if !ok {
		return Feed{}, fmt.Errorf("read secdb %s: distroversion %q is not like \"v3.11\"", name, truncate(doc.DistroVersion))
	}
	reject := func(record, reason string) {
		feed.Rejected = append(feed.Rejected, Rejection{Record: record, Reason: reason})
	}
	for i, p := range doc.Packages {
		pkg := p.Pkg.Name
		if pkg == "" || len(pkg) > maxPackageLen || strings.ContainsFunc(pkg, isSpaceOrControl) || strings.Contains(pkg, "/") {
			reject(fmt.Sprintf("packages[%d]", i), fmt.Sprintf("missing or malformed package name %q", truncate(pkg)))
			continue
		}
		// Collect ID → fixed version, keeping the highest version.
		fixedBy := map[string]string{}
		fixes := slices.Sorted(maps.Keys(p.Pkg.Secfixes))
		for _, fixed := range fixes {
			if fixed == "0" {
				continue
			}
			record := pkg + " " + fixed
			var ids []string
			if err := json.Unmarshal(p.Pkg.Secfixes[fixed], &ids); err != nil {
				reject(record, "secfixes entry is not a list of strings")
				continue
			}
			if !version.Valid(version.Apk, fixed) {
				_, err := version.Compare(version.Apk, fixed, fixed)
				reject(record, err.Error())
				continue
			}
			for _, raw := range ids {
				fields := strings.Fields(raw)
				if len(fields) == 0 {
					reject(record, "empty vulnerability ID")
					continue
				}
				id := fields[0]
				if err := checkID("vulnerability ID", id); err != nil {
					reject(record, err.Error())
					continue
				}
				prev, seen := fixedBy[id]
				if !seen {
					fixedBy[id] = fixed
					continue
				}
				if prev == fixed {
					continue // listed twice under the same version: one fact
				}
				keep, drop := prev, fixed
				if c, _ := version.Compare(version.Apk, fixed, prev); c > 0 {
					keep, drop = fixed, prev
				}
				fixedBy[id] = keep
				reject(pkg+" "+drop, fmt.Sprintf("%s is also listed as fixed in %s; keeping the higher version", id, keep))
			}
		}
		for _, id := range slices.Sorted(maps.Keys(fixedBy)) {
			adv := Advisory{
				ID:     "ALPINE-" + doc.DistroVersion + "-" + pkg + "-" + id,
				Source: SourceAlpineSecDB,
				Affected: []Affected{{
					Ecosystem: eco,
					Distro:    distro,
					Package:   pkg,
					Ranges: []Range{{Type: RangeEcosystem, Events: []Event{
						{Introduced: "0"}, {Fixed: fixedBy[id]},
					}}},
				}},
			}
			if m := secdbCVE.FindStringSubmatch(id); m != nil {
				cve := "CVE-" + m[1] + "-" + m[2]
				adv.CVEs = []string{cve}
				adv.Aliases = []string{cve}
			}
			feed.Advisories = append(feed.Advisories, adv)
		}
	}
	return feed, nil
}
