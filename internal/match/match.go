// Package match finds which advisories affect which installed packages.
//
// An Index holds advisories by (distribution, release, package name). The
// unit of matching is a Tuple: one distinct installed package version in
// one distribution release, whatever the number of hosts that carry it, so
// the cost of matching a fleet follows its distinct tuples, not hosts ×
// packages. Adding or replacing advisories reports the keys they touched,
// so a feed update re-matches only the tuples of the packages it names.
//
// Packages are looked up under their binary name and under their source
// name (dpkg Source:, rpm source RPM, apk origin), because feeds differ:
// Debian, Ubuntu and Alpine name source packages, AlmaLinux and Rocky name
// binary RPMs. A binary-name hit is compared with the binary's version, a
// source-name hit with the source version. Ubuntu's variants (LTS, Pro,
// FIPS) all apply to the release: a host on 22.04 is matched against
// "Ubuntu:22.04", "Ubuntu:22.04:LTS" and "Ubuntu:Pro:22.04:LTS" records,
// and where several say it is affected the lowest fixed version wins.
package match

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/version"
)

// Key names the advisories that may concern one package of one release.
type Key struct {
	Distro  string // "ubuntu", "almalinux", "alpine"
	Release string // "22.04", "9", "3.19"
	Package string
}

// Tuple is one distinct installed package version in one release.
type Tuple struct {
	Distro, Release string
	Name, Version   string // binary package
	Source          string // source package; "" means Name
	SourceVersion   string // "" means Version
}

// Match says one advisory affects a tuple.
type Match struct {
	AdvisoryID string
	Fixed      string // lowest fixed version that covers the installed one; "" when no fix is published
	Via        string // "binary" or "source": which name matched
}

type entry struct {
	id  string
	aff advisory.Affected
}

// Index is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	byKey map[Key][]entry
	keys  map[string][]Key // advisory ID → keys it is filed under
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byKey: map[Key][]entry{}, keys: map[string][]Key{}}
}

// Len is the number of advisories in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.keys)
}

// Put adds advisories, replacing those with the same ID, and returns every
// key whose advisories changed (old and new keys of replaced ones).
// Withdrawn advisories are removed.
func (ix *Index) Put(advs ...advisory.Advisory) []Key {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	touched := map[Key]bool{}
	for _, a := range advs {
		for _, k := range ix.removeLocked(a.ID) {
			touched[k] = true
		}
		if a.Withdrawn != nil {
			continue
		}
		var ks []Key
		for _, af := range a.Affected {
			if af.Distro.ID == "" || af.Package == "" {
				continue
			}
			k := Key{af.Distro.ID, af.Distro.Release, af.Package}
			ix.byKey[k] = append(ix.byKey[k], entry{a.ID, af})
			if !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
			touched[k] = true
		}
		if len(ks) > 0 {
			ix.keys[a.ID] = ks
		}
	}
	return sortedKeys(touched)
}

// Keys returns, sorted, the keys Put(advs...) would touch, without
// changing the index: the keys the advisories are filed under now and
// those their new versions name.
func (ix *Index) Keys(advs ...advisory.Advisory) []Key {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	touched := map[Key]bool{}
	for _, a := range advs {
		for _, k := range ix.keys[a.ID] {
			touched[k] = true
		}
		if a.Withdrawn != nil {
			continue
		}
		for _, af := range a.Affected {
			if af.Distro.ID == "" || af.Package == "" {
				continue
			}
			touched[Key{af.Distro.ID, af.Distro.Release, af.Package}] = true
		}
	}
	return sortedKeys(touched)
}

func sortedKeys(touched map[Key]bool) []Key {
	out := make([]Key, 0, len(touched))
	for k := range touched {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Distro, b.Distro), cmp.Compare(a.Release, b.Release), cmp.Compare(a.Package, b.Package))
	})
	return out
}

func (ix *Index) removeLocked(id string) []Key {
	ks := ix.keys[id]
	for _, k := range ks {
		es := ix.byKey[k][:0:0]
		for _, e := range ix.byKey[k] {
			if e.id != id {
				es = append(es, e)
			}
		}
		if len(es) == 0 {
			delete(ix.byKey, k)
		} else {
			ix.byKey[k] = es
		}
	}
	delete(ix.keys, id)
	return ks
}

// Match returns the advisories affecting t, by advisory ID. Versions the
// ordering cannot read are reported as errors beside the matches that
// could be decided.
func (ix *Index) Match(t Tuple) ([]Match, []error) {
	src, srcVer := t.Source, t.SourceVersion
	if src == "" {
		src = t.Name
	}
	if srcVer == "" {
		srcVer = t.Version
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []Match
	var errs []error
	best := map[string]int{} // advisory ID → index in out
	try := func(pkg, ver, via string) {
		for _, e := range ix.byKey[Key{t.Distro, t.Release, pkg}] {
			ok, fixed, err := e.aff.IsAffected(ver)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok {
				continue
			}
			if i, seen := best[e.id]; seen {
				if betterFix(e.aff.Distro.Format, fixed, out[i].Fixed) {
					out[i].Fixed = fixed
				}
				continue
			}
			best[e.id] = len(out)
			out = append(out, Match{AdvisoryID: e.id, Fixed: fixed, Via: via})
		}
	}
	try(t.Name, t.Version, "binary")
	if src != t.Name {
		try(src, srcVer, "source")
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.AdvisoryID, b.AdvisoryID) })
	return out, errs
}

// betterFix reports whether f should replace cur: any fix beats none and a
// lower fix beats a higher one.
func betterFix(eco version.Ecosystem, f, cur string) bool {
	if f == "" {
		return false
	}
	if cur == "" {
		return true
	}
	c, err := version.Compare(eco, f, cur)
	return err == nil && c < 0
}

// Release maps a host's os-release ID and VERSION_ID to the distribution
// and release the feeds use: Ubuntu "22.04", Debian "12", AlmaLinux and
// Rocky the major version ("9.4" → "9"), Alpine major.minor ("3.19.1" →
// "3.19"). It reports false for a distribution no feed covers.
func Release(osID, versionID string) (distro, release string, ok bool) {
	id := strings.ToLower(osID)
	switch id {
	case "ubuntu", "debian":
		return id, versionID, versionID != ""
	case "almalinux", "rocky", "rhel":
		major, _, _ := strings.Cut(versionID, ".")
		return id, major, major != ""
	case "alpine":
		parts := strings.SplitN(versionID, ".", 3)
		if len(parts) < 2 {
			return "", "", false
		}
		return id, parts[0] + "." + parts[1], true
	}
	return "", "", false
}

// KeysOf lists the keys a tuple is looked up under.
func KeysOf(t Tuple) []Key {
	ks := []Key{{t.Distro, t.Release, t.Name}}
	if t.Source != "" && t.Source != t.Name {
		ks = append(ks, Key{t.Distro, t.Release, t.Source})
	}
	return ks
}

// Remove takes advisories out of the index and returns the keys they were
// filed under, sorted.
func (ix *Index) Remove(ids ...string) []Key {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	touched := map[Key]bool{}
	for _, id := range ids {
		for _, k := range ix.removeLocked(id) {
			touched[k] = true
		}
	}
	return sortedKeys(touched)
}
