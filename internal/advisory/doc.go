// Package advisory reads vulnerability feeds into one advisory model: OSV
// records (Ubuntu, Debian, AlmaLinux, Rocky Linux, Alpine and other
// ecosystems), the Alpine secdb, the CISA Known Exploited Vulnerabilities
// catalog and FIRST EPSS scores.
//
// It parses and validates; it does not fetch feeds over the network, store
// them, or match them against hosts (that is package match). Readers never
// stop at a bad record: each malformed record becomes a Rejection naming it
// and the reason, and the rest is read. Only a failure of the input as a
// whole (unreadable file, size limit exceeded) is an error.
//
// # Model
//
// An Advisory is one OSV-shaped record. Each Affected entry names one package
// in one ecosystem as the feed writes it ("Ubuntu:22.04:LTS", "AlmaLinux:9",
// "Alpine:v3.19"), the Distro parsed from it (with the version.Ecosystem that
// orders its versions), ranges of events and explicit versions. Alpine secdb
// entries are converted to the same shape: one Advisory per release, package
// and CVE, with an ECOSYSTEM range {introduced "0", fixed V}.
//
// # OSV semantics implemented by Affected.IsAffected
//
//   - Ranges of type ECOSYSTEM and SEMVER are evaluated with version.Compare
//     in the Distro's Format; GIT ranges are ignored (commits cannot be
//     ordered without the repository).
//   - A range's events are sorted by version, "0" (introduced at the
//     beginning of time) first; for equal versions introduced sorts first.
//     Walking them in order, an introduced event at or below v makes v
//     affected, a fixed event at or below v makes it unaffected (fixed is an
//     exclusive upper bound), a last_affected event below v makes it
//     unaffected (last_affected is inclusive), and v at or above a limit
//     event is not affected by that range.
//   - A version listed in Versions is affected whatever the ranges say.
//   - The fixed version reported is the fixed event that closes the range
//     containing v; if several ranges contain v, the lowest such fixed
//     version; "" if the affected range has no fix (or v is affected only
//     through Versions).
//   - A withdrawn advisory affects nothing (Advisory.Affects).
//
// Key invariant: every version stored in a parsed Advisory is valid in its
// Distro's Format, so IsAffected fails only for an invalid query version.
package advisory
