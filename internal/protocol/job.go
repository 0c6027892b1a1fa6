package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// A job is the only way the server asks an agent to change its host. It is
// one of a fixed set of actions, bound to one host, one sequence number and
// a validity period, and signed by the server's job key, which the agent
// pinned at enrollment. The server can name packages, versions and the
// names of commands the host declared locally; it can never send a command,
// a script or a package source.

// Action is what a job asks the agent to do.
type Action string

// The fixed set of actions. Nothing else is ever accepted.
const (
	// ActionInstall installs, upgrades or downgrades the listed packages to
	// exactly the listed versions from the host's configured repositories.
	// Name, if set, is a pre-patch hook the agent runs first.
	ActionInstall Action = "install"
	// ActionReboot reboots the host.
	ActionReboot Action = "reboot"
	// ActionRestartServices restarts the services that still run replaced
	// binaries or libraries, a narrower form of reboot. The job names no
	// unit: the agent restarts only the units its own detection on the host
	// reports (needrestart, needs-restarting), and refuses when that
	// detection says the host needs a reboot instead.
	ActionRestartServices Action = "restart_services"
	// ActionHook runs the hook the host declares under Name.
	ActionHook Action = "hook"
	// ActionHealthCheck runs the health check the host declares under Name.
	ActionHealthCheck Action = "health_check"
	// ActionInventory reports the host's inventory now.
	ActionInventory Action = "inventory"
	// ActionAgentUpdate replaces the agent binary with the release that
	// Release (a note from `patchbay release sign`) describes. The agent
	// fetches the binary from the server and installs it only when the note
	// verifies against the release key pinned on the host at install time:
	// the server's signature on the job is not enough, as the server never
	// holds the release key.
	ActionAgentUpdate Action = "agent_update"
	// ActionQuarantine runs the quarantine hook the host declares under
	// Name with the single argument "quarantine" (for example a firewall
	// rule that only lets through the package repositories and the
	// Patchbay server); ActionRelease runs the same hook with "release".
	// The server sends them only when the host's group enforces
	// quarantine (docs/policy.md).
	ActionQuarantine Action = "quarantine"
	ActionRelease    Action = "release"
)

// Limits on a job.
const (
	MaxJobPackages = 1000
	MaxJobBytes    = 1 << 20 // 1000 packages of 3×255 bytes fit with room to spare
	maxJobIDBytes  = 128
	maxJobField    = 255
	maxJobArch     = 32
	maxCommandName = 64
	// MaxReleaseNote bounds an agent_update job's release note: a few
	// short lines and a signature or two.
	MaxReleaseNote = 4096
)

// JobPackage is one package an install job sets to an exact version.
type JobPackage struct {
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// Job is the signed content of an Envelope.
type Job struct {
	ID     string `json:"id"`
	HostID string `json:"host_id"`
	// Seq increases with every job the server issues to this host; the agent
	// refuses a job whose Seq is not above the last one it accepted.
	Seq       uint64       `json:"seq"`
	NotBefore time.Time    `json:"not_before"`
	Expires   time.Time    `json:"expires"`
	Action    Action       `json:"action"`
	Packages  []JobPackage `json:"packages,omitempty"`
	// Name is the hook or health check to run, by the name the host's
	// local configuration gives it.
	Name     string `json:"name,omitempty"`
	ChangeID string `json:"change_id,omitempty"`
	// Rollback marks an install job that returns packages to the versions
	// recorded before a change.
	Rollback bool `json:"rollback,omitempty"`
	// Release is the signed release note of an agent_update job, verified
	// by the agent against its pinned release key.
	Release []byte `json:"release,omitempty"`
}

// Envelope carries a job and the server's signature over its exact bytes.
type Envelope struct {
	Payload   []byte `json:"payload"`   // canonical JSON of a Job
	Signature []byte `json:"signature"` // ed25519 over Payload
	KeyID     string `json:"key_id"`    // JobKeyID of the signing key
}

// ErrBadSignature reports an envelope that was not signed by the pinned key.
var ErrBadSignature = errors.New("job signature does not verify")

// JobKeyID names a job public key: the first 8 bytes of its SHA-256, in hex.
func JobKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ParseJobKey decodes the base64 job key of an EnrollResponse.
func ParseJobKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("job key is not a base64 ed25519 public key; enroll the agent again")
	}
	return ed25519.PublicKey(b), nil
}

// SignJob validates j and signs its canonical JSON. Times are stored in UTC
// so that the same job always has the same bytes.
func SignJob(key ed25519.PrivateKey, j Job) (Envelope, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Envelope{}, errors.New("sign job: not an ed25519 private key")
	}
	j.NotBefore, j.Expires = j.NotBefore.UTC(), j.Expires.UTC()
	if err := j.Validate(); err != nil {
		return Envelope{}, fmt.Errorf("sign job: %w", err)
	}
	payload, err := json.Marshal(j)
	if err != nil {
		return Envelope{}, fmt.Errorf("sign job: %w", err)
	}
	if len(payload) > MaxJobBytes {
		return Envelope{}, fmt.Errorf("sign job: payload of %d bytes exceeds %d", len(payload), MaxJobBytes)
	}
	return Envelope{
		Payload:   payload,
		Signature: ed25519.Sign(key, payload),
		KeyID:     JobKeyID(key.Public().(ed25519.PublicKey)),
	}, nil
}

// Open verifies the signature over Payload with pub, then decodes the job
// strictly and validates it. Only a payload that is exactly the canonical
// encoding of a valid Job is accepted: unknown, duplicate or differently
// cased fields, trailing data and oversized payloads are refused, so the
// bytes that were signed mean one thing only. A signature failure wraps
// ErrBadSignature; any other error means the signed content is invalid.
func (e Envelope) Open(pub ed25519.PublicKey) (Job, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Job{}, fmt.Errorf("%w: the pinned job key is not an ed25519 public key", ErrBadSignature)
	}
	if want := JobKeyID(pub); e.KeyID != want {
		return Job{}, fmt.Errorf("%w: signed by key %q, the agent pins key %q", ErrBadSignature, truncate(e.KeyID), want)
	}
	if len(e.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, e.Payload, e.Signature) {
		return Job{}, fmt.Errorf("%w: payload or signature was altered, or another key signed it", ErrBadSignature)
	}
	return decodeJob(e.Payload)
}

func decodeJob(payload []byte) (Job, error) {
	if len(payload) > MaxJobBytes {
		return Job{}, fmt.Errorf("job payload of %d bytes exceeds %d", len(payload), MaxJobBytes)
	}
	var j Job
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Job{}, errors.New("decode job: trailing data after the job")
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	canon, err := json.Marshal(j)
	if err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if !bytes.Equal(canon, payload) {
		return Job{}, errors.New("decode job: payload is not the canonical encoding of the job (duplicate, misspelt or reordered fields)")
	}
	return j, nil
}

// Validate checks that the job is one of the fixed actions with well-formed
// parameters. Package names and versions use the character sets that are
// safe as package manager arguments: a name never starts with '-' and
// nothing contains spaces or shell metacharacters.
func (j Job) Validate() error {
	if !validID(j.ID) {
		return fielderr.New("id", "must be 1-128 characters from [A-Za-z0-9._:-]")
	}
	if !validID(j.HostID) {
		return fielderr.New("host_id", "must be 1-128 characters from [A-Za-z0-9._:-]")
	}
	if j.ChangeID != "" && !validID(j.ChangeID) {
		return fielderr.New("change_id", "must be 1-128 characters from [A-Za-z0-9._:-]")
	}
	if j.Seq == 0 {
		return fielderr.New("seq", "must be at least 1")
	}
	if j.NotBefore.IsZero() || j.Expires.IsZero() {
		return fielderr.New("expires", "not_before and expires are required")
	}
	if !j.Expires.After(j.NotBefore) {
		return fielderr.New("expires", "must be after not_before")
	}
	if len(j.Packages) > MaxJobPackages {
		return fielderr.Errorf("packages", "more than %d packages", MaxJobPackages)
	}
	switch {
	case j.Action == ActionAgentUpdate && len(j.Release) == 0:
		return fielderr.New("release", "an agent_update job needs the signed release note")
	case len(j.Release) > MaxReleaseNote:
		return fielderr.Errorf("release", "release note of %d bytes exceeds %d", len(j.Release), MaxReleaseNote)
	case j.Action != ActionAgentUpdate && len(j.Release) > 0:
		return fielderr.Errorf("release", "a %s job takes no release note", j.Action)
	}
	switch j.Action {
	case ActionInstall:
		if len(j.Packages) == 0 {
			return fielderr.New("packages", "an install job needs at least one package")
		}
		if j.Name != "" && !ValidCommandName(j.Name) {
			return fielderr.Errorf("name", "pre-patch hook name %q must match [a-z0-9][a-z0-9_-]{0,63}", truncate(j.Name))
		}
		return validateJobPackages(j.Packages)
	case ActionHook, ActionHealthCheck, ActionQuarantine, ActionRelease:
		if !ValidCommandName(j.Name) {
			return fielderr.Errorf("name", "%s name %q must match [a-z0-9][a-z0-9_-]{0,63}", j.Action, truncate(j.Name))
		}
	case ActionReboot, ActionRestartServices, ActionInventory, ActionAgentUpdate:
		if j.Name != "" {
			return fielderr.Errorf("name", "a %s job takes no name", j.Action)
		}
	default:
		return fielderr.Errorf("action", "unknown action %q; the agent only does install, reboot, restart_services, hook, health_check, inventory, agent_update, quarantine and release", truncate(string(j.Action)))
	}
	if len(j.Packages) > 0 {
		return fielderr.Errorf("packages", "a %s job takes no packages", j.Action)
	}
	if j.Rollback {
		return fielderr.New("rollback", "only an install job can be a rollback")
	}
	return nil
}

func validateJobPackages(ps []JobPackage) error {
	seen := make(map[JobPackage]bool, len(ps))
	for i, p := range ps {
		field := fmt.Sprintf("packages[%d]", i)
		if !validPackageName(p.Name) {
			return fielderr.Errorf(field, "name %q must match [A-Za-z0-9][A-Za-z0-9+._-]{0,254}", truncate(p.Name))
		}
		if !validPackageVersion(p.Version) {
			return fielderr.Errorf(field, "version %q of %s must match [0-9A-Za-z][0-9A-Za-z.+~:_-]{0,254}", truncate(p.Version), p.Name)
		}
		if !validPackageArch(p.Arch) {
			return fielderr.Errorf(field, "architecture %q of %s must match [a-z0-9_]{0,32}", truncate(p.Arch), p.Name)
		}
		key := JobPackage{Name: p.Name, Arch: p.Arch}
		if seen[key] {
			return fielderr.Errorf(field, "package %s appears twice", p.Name)
		}
		seen[key] = true
	}
	return nil
}

// ValidCommandName reports whether s is a well-formed hook or health check
// name: [a-z0-9][a-z0-9_-]{0,63}.
func ValidCommandName(s string) bool {
	if s == "" || len(s) > maxCommandName || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func validPackageName(s string) bool {
	return validToken(s, maxJobField, isAlnum, func(c byte) bool {
		return isAlnum(c) || c == '+' || c == '.' || c == '_' || c == '-'
	})
}

func validPackageVersion(s string) bool {
	return validToken(s, maxJobField, isAlnum, func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '+' || c == '~' || c == ':' || c == '_' || c == '-'
	})
}

// validPackageArch accepts the empty string (the package manager's default
// architecture).
func validPackageArch(s string) bool {
	if len(s) > maxJobArch {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	return validToken(s, maxJobIDBytes, isAlnum, func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-'
	})
}

func validToken(s string, max int, first, rest func(byte) bool) bool {
	if s == "" || len(s) > max || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

func isLowerAlnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' }
