package protocol

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/fielderr"
	"github.com/patchbay/patchbay/internal/inventory"
)

// Version is the protocol version. The server refuses agents that speak a
// newer one; additive changes do not bump it.
const Version = 1

// Limits on what an agent may send. They bound memory on the server and
// keep one host from filling the database.
const (
	MaxBodyBytes    = 32 << 20 // a full check-in of a large host is a few MB
	MaxPackages     = 50_000
	MaxUpdates      = 50_000
	MaxProblems     = 200
	MaxFieldBytes   = 4096
	MaxAddresses    = 256
	MaxRebootReason = 64
)

// Paths of the agent endpoints.
const (
	PathEnroll  = "/agent/v1/enroll"
	PathCheckin = "/agent/v1/checkin"
	PathRenew   = "/agent/v1/renew"
	// PathJobResult receives the result of a job.
	PathJobResult = "/agent/v1/jobs/result"
)

// EnrollRequest is sent once, over server-authenticated TLS, with the
// enrollment token. The agent made its own key pair; only the CSR leaves the
// host.
type EnrollRequest struct {
	ProtocolVersion int    `json:"protocol_version"`
	Token           string `json:"token"`
	CSR             string `json:"csr"` // PEM certificate signing request
	Hostname        string `json:"hostname"`
	// Labels are the host's labels from its own configuration (agent.yaml
	// labels:, --label). The enrollment token's labels win on conflict.
	Labels map[string]string `json:"labels,omitempty"`
}

// EnrollResponse carries the host's identity and its client certificate.
type EnrollResponse struct {
	HostID          string `json:"host_id"`
	Certificate     string `json:"certificate"` // PEM, signed by the server CA
	CA              string `json:"ca"`          // PEM of the server CA
	JobKey          string `json:"job_key"`     // base64 ed25519 public key that signs jobs; pinned by the agent
	CheckinInterval int    `json:"checkin_interval_seconds"`
}

// RenewRequest asks for a fresh client certificate for the same key or a
// new one; sent over mutual TLS with the current certificate.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse carries the renewed certificate.
type RenewResponse struct {
	Certificate string `json:"certificate"`
}

// Update is a newer version the host's configured repositories offer.
type Update struct {
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
	Repo    string `json:"repo,omitempty"`
}

// CheckinRequest reports the host's state. The first report and any report
// after the server asked for it is Full; the others carry only what changed
// since BaseRevision, the revision the server acknowledged last.
type CheckinRequest struct {
	ProtocolVersion int                 `json:"protocol_version"`
	Facts           inventory.Facts     `json:"facts"`
	Full            bool                `json:"full"`
	BaseRevision    int64               `json:"base_revision"`
	Packages        []inventory.Package `json:"packages,omitempty"` // Full: every installed package
	Upserts         []inventory.Package `json:"upserts,omitempty"`  // delta: added or changed packages
	Removes         []string            `json:"removes,omitempty"`  // delta: Package.Key() of removed packages
	// Updates is the complete list of available updates when UpdatesChanged.
	Updates        []Update `json:"updates,omitempty"`
	UpdatesChanged bool     `json:"updates_changed"`
	Problems       []string `json:"problems,omitempty"`
}

// CheckinResponse tells the agent what the server now holds.
type CheckinResponse struct {
	Revision        int64     `json:"revision"`
	NeedFull        bool      `json:"need_full,omitempty"` // the delta's base is unknown: send a full report
	CheckinInterval int       `json:"checkin_interval_seconds"`
	RenewBefore     time.Time `json:"renew_before,omitempty"` // renew the certificate before this time
	// Jobs are signed jobs for this host not yet finished, in sequence
	// order; the agent verifies each before it does anything.
	Jobs []Envelope `json:"jobs,omitempty"`
}

// MaxJobSeq bounds job sequence numbers an agent reports, far above any
// real count and within the database's signed 64-bit integers.
const MaxJobSeq = 1 << 53

// JobResult reports how a job ended. Installed holds the versions the
// host's package database shows afterwards for the job's packages
// (name or name:arch → version); the server verifies them.
type JobResult struct {
	JobID     string            `json:"job_id"`
	OK        bool              `json:"ok"`
	Detail    string            `json:"detail,omitempty"`
	Installed map[string]string `json:"installed,omitempty"`
	// Previous holds the versions the install replaced, recorded before it
	// ran, for rollback.
	Previous map[string]string `json:"previous,omitempty"`
	// NotRun says the agent refused the job without running it because its
	// sequence is not above LastSeq, the last sequence the agent accepted,
	// and the agent never ran a job with this ID: the server's records are
	// older than the agent's (it was restored from a backup). The server
	// issues the job again with a sequence above LastSeq. A job the agent
	// did run is answered with its recorded result instead, so no job runs
	// twice.
	NotRun  bool   `json:"not_run,omitempty"`
	LastSeq uint64 `json:"last_seq,omitempty"`
}

// Validate bounds a job result from an agent.
func (r *JobResult) Validate() error {
	if r.JobID == "" || len(r.JobID) > 128 {
		return fielderr.New("job_id", "required, at most 128 bytes")
	}
	if err := checkText(r.Detail, 64<<10); err != nil {
		return fielderr.New("detail", err.Error())
	}
	if r.NotRun && (r.OK || r.LastSeq == 0) {
		return fielderr.New("not_run", "a job not run is not ok and names the agent's last_seq")
	}
	for _, m := range []map[string]string{r.Installed, r.Previous} {
		if len(m) > MaxJobPackages {
			return fielderr.New("installed", "too many packages")
		}
		for k, v := range m {
			if err := checkText(k, MaxFieldBytes); err != nil {
				return fielderr.New("installed", err.Error())
			}
			if err := checkText(v, MaxFieldBytes); err != nil {
				return fielderr.New("installed", err.Error())
			}
		}
	}
	return nil
}

// Validate bounds the sizes and shapes of a check-in. It does not judge
// versions by ecosystem; that is the matcher's job.
func (c *CheckinRequest) Validate() error {
	if c.ProtocolVersion > Version {
		return fielderr.Errorf("protocol_version", "agent speaks protocol %d, server knows %d; upgrade the server", c.ProtocolVersion, Version)
	}
	if err := validateFacts(&c.Facts); err != nil {
		return err
	}
	if len(c.Packages) > MaxPackages || len(c.Upserts) > MaxPackages || len(c.Removes) > MaxPackages {
		return fielderr.Errorf("packages", "more than %d packages", MaxPackages)
	}
	if !c.Full && len(c.Packages) > 0 {
		return fielderr.New("packages", "a delta check-in sends upserts and removes, not packages")
	}
	if c.Full && (len(c.Upserts) > 0 || len(c.Removes) > 0) {
		return fielderr.New("upserts", "a full check-in sends packages, not upserts or removes")
	}
	seen := make(map[string]bool, len(c.Packages)+len(c.Upserts))
	for _, list := range [][]inventory.Package{c.Packages, c.Upserts} {
		for i := range list {
			if err := validatePackage(&list[i]); err != nil {
				return fielderr.New(fmt.Sprintf("packages[%d]", i), err.Error())
			}
			k := list[i].Key()
			if seen[k] {
				return fielderr.New(fmt.Sprintf("packages[%d]", i), fmt.Sprintf("duplicate package %q", k))
			}
			seen[k] = true
		}
	}
	for i, k := range c.Removes {
		if err := checkText(k, 2*MaxFieldBytes); err != nil {
			return fielderr.New(fmt.Sprintf("removes[%d]", i), err.Error())
		}
	}
	if len(c.Updates) > MaxUpdates {
		return fielderr.Errorf("updates", "more than %d updates", MaxUpdates)
	}
	for i, u := range c.Updates {
		if u.Name == "" || u.Version == "" {
			return fielderr.New(fmt.Sprintf("updates[%d]", i), "name and version are required")
		}
		for _, s := range []string{u.Name, u.Arch, u.Version, u.Repo} {
			if err := checkText(s, MaxFieldBytes); err != nil {
				return fielderr.New(fmt.Sprintf("updates[%d]", i), err.Error())
			}
		}
	}
	if len(c.Problems) > MaxProblems {
		c.Problems = c.Problems[:MaxProblems]
	}
	for i, p := range c.Problems {
		if len(p) > MaxFieldBytes {
			c.Problems[i] = p[:MaxFieldBytes]
		}
	}
	return nil
}

func validatePackage(p *inventory.Package) error {
	if p.Name == "" {
		return fmt.Errorf("name is required")
	}
	if p.Version == "" {
		return fmt.Errorf("package %q: version is required", p.Name)
	}
	for _, s := range []string{p.Name, p.Version, p.Arch, p.Source, p.SourceVersion} {
		if err := checkText(s, MaxFieldBytes); err != nil {
			return fmt.Errorf("package %q: %w", truncate(p.Name), err)
		}
	}
	return nil
}

func validateFacts(f *inventory.Facts) error {
	fields := map[string]string{
		"facts.hostname": f.Hostname, "facts.kernel": f.Kernel, "facts.arch": f.Arch,
		"facts.os.id": f.OS.ID, "facts.os.version_id": f.OS.VersionID, "facts.os.name": f.OS.Name,
		"facts.os.pretty_name": f.OS.PrettyName, "facts.os.codename": f.OS.Codename,
		"facts.package_format": string(f.PackageFormat),
		"facts.agent_version":  f.AgentVersion, "facts.agent_platform": f.AgentPlatform,
	}
	for name, v := range fields {
		if err := checkText(v, MaxFieldBytes); err != nil {
			return fielderr.New(name, err.Error())
		}
	}
	if f.Hostname == "" {
		return fielderr.New("facts.hostname", "is required")
	}
	switch f.PackageFormat {
	case "", inventory.FormatDpkg, inventory.FormatRPM, inventory.FormatApk:
	default:
		return fielderr.Errorf("facts.package_format", "unknown format %q", truncate(string(f.PackageFormat)))
	}
	if len(f.Addresses) > MaxAddresses {
		return fielderr.Errorf("facts.addresses", "more than %d addresses", MaxAddresses)
	}
	for _, a := range append(append([]string{}, f.Addresses...), f.OS.IDLike...) {
		if err := checkText(a, 256); err != nil {
			return fielderr.New("facts.addresses", err.Error())
		}
	}
	if len(f.RebootReasons) > MaxRebootReason {
		f.RebootReasons = f.RebootReasons[:MaxRebootReason]
	}
	for _, r := range f.RebootReasons {
		if err := checkText(r, MaxFieldBytes); err != nil {
			return fielderr.New("facts.reboot_reasons", err.Error())
		}
	}
	if len(f.ServicesNeedingRestart) > inventory.MaxRestartServices {
		return fielderr.Errorf("facts.services_needing_restart", "more than %d services", inventory.MaxRestartServices)
	}
	for _, u := range f.ServicesNeedingRestart {
		if !inventory.ValidServiceUnit(u) {
			return fielderr.Errorf("facts.services_needing_restart", "%q is not a systemd service unit name", truncate(u))
		}
	}
	if f.Uptime < 0 {
		return fielderr.New("facts.uptime", "is negative")
	}
	return nil
}

// checkText refuses oversized strings and invalid UTF-8. Control characters
// are allowed through: the console and CLI render them inert, and refusing
// them would hide a hostile host's data from its operators.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("contains a NUL byte")
		}
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
