package agent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/protocol"
)

// Why the agent refuses a job. Accept wraps exactly one of them, with the
// details, so the runner can log and report the reason.
var (
	ErrBadSignature = errors.New("job refused: not signed by the pinned job key")
	ErrWrongHost    = errors.New("job refused: issued for another host")
	ErrExpired      = errors.New("job refused: expired")
	ErrNotYetValid  = errors.New("job refused: not valid yet")
	ErrReplay       = errors.New("job refused: sequence already passed")
	ErrInvalidJob   = errors.New("job refused: invalid job")
	ErrUnknownHook  = errors.New("job refused: hook or health check not declared on this host")
)

// ClockSkew is how far ahead of the agent's clock the server's may run:
// a job is accepted from NotBefore minus ClockSkew.
const ClockSkew = time.Minute

// SeqStore remembers the sequence number of the last accepted job.
// SetLastSeq must be durable when it returns.
type SeqStore interface {
	LastSeq() uint64
	SetLastSeq(seq uint64) error
}

// JobVerifier decides whether the agent runs a job. It accepts only jobs
// signed by the pinned key, for this host, inside their validity period,
// with a sequence above every job accepted before, that pass
// protocol.Job.Validate and that name only hooks and checks declared in
// the host's local configuration.
type JobVerifier struct {
	Key    ed25519.PublicKey // pinned at enrollment
	HostID string
	State  SeqStore
	// Hooks are the hooks and health checks declared on this host; a job
	// naming any other is refused. Nil declares none.
	Hooks Hooks
	Now   func() time.Time // time.Now when nil

	mu sync.Mutex // serializes Accept so one sequence is accepted once
}

// Accept verifies e and returns its job. On refusal the error wraps one of
// the Err* reasons and nothing is recorded. On acceptance the job's
// sequence is stored durably before Accept returns, so after a crash the
// same job is refused as a replay: a job runs at most once.
func (v *JobVerifier) Accept(e protocol.Envelope) (protocol.Job, error) {
	if v.State == nil {
		return protocol.Job{}, errors.New("job verifier has no sequence store")
	}
	j, err := e.Open(v.Key)
	switch {
	case errors.Is(err, protocol.ErrBadSignature):
		return protocol.Job{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	case err != nil:
		return protocol.Job{}, fmt.Errorf("%w: %w", ErrInvalidJob, err)
	}
	if j.HostID != v.HostID {
		return protocol.Job{}, fmt.Errorf("%w: job %s is for host %s, this is host %s", ErrWrongHost, j.ID, j.HostID, v.HostID)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if !now.Before(j.Expires) {
		return protocol.Job{}, fmt.Errorf("%w: job %s expired at %s, the agent's clock says %s", ErrExpired, j.ID, j.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.Before(j.NotBefore.Add(-ClockSkew)) {
		return protocol.Job{}, fmt.Errorf("%w: job %s is valid from %s, the agent's clock says %s; check the clocks of agent and server", ErrNotYetValid, j.ID, j.NotBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := v.checkCommands(j); err != nil {
		return protocol.Job{}, err
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if last := v.State.LastSeq(); j.Seq <= last {
		return protocol.Job{}, fmt.Errorf("%w: job %s has sequence %d, the agent already accepted sequence %d", ErrReplay, j.ID, j.Seq, last)
	}
	if err := v.State.SetLastSeq(j.Seq); err != nil {
		return protocol.Job{}, fmt.Errorf("job %s: record sequence %d: %w", j.ID, j.Seq, err)
	}
	return j, nil
}

func (v *JobVerifier) checkCommands(j protocol.Job) error {
	if j.Name == "" {
		return nil
	}
	kind := map[protocol.Action]string{protocol.ActionInstall: "pre-patch hook", protocol.ActionHook: "hook", protocol.ActionHealthCheck: "health check", protocol.ActionQuarantine: "quarantine hook", protocol.ActionRelease: "quarantine hook"}[j.Action]
	if _, ok := v.Hooks[j.Name]; !ok {
		return fmt.Errorf("%w: job %s names %s %q, which this host does not declare; declare it in the agent's hooks file (%s by default)", ErrUnknownHook, j.ID, kind, j.Name, DefaultHooksPath)
	}
	return nil
}

// SeqFile is a SeqStore kept in a small JSON file, replaced atomically
// (temporary file, fsync, rename, fsync of the directory) on every update.
type SeqFile struct {
	path string
	mu   sync.Mutex
	last uint64
}

type seqFileContent struct {
	LastSeq uint64 `json:"last_seq"`
}

// OpenSeqFile reads the sequence stored at path; a missing file means no
// job was accepted yet. A corrupt file is an error, never a reset: a reset
// would let old jobs be replayed.
func OpenSeqFile(path string) (*SeqFile, error) {
	f := &SeqFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read job sequence: %w", err)
	}
	var c seqFileContent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("job sequence file %s is corrupt (%v); restore it, or set it above the last job sequence the server issued to this host", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("job sequence file %s is corrupt (trailing data); restore it, or set it above the last job sequence the server issued to this host", path)
	}
	f.last = c.LastSeq
	return f, nil
}

// LastSeq returns the sequence of the last accepted job, 0 if none.
func (f *SeqFile) LastSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// SetLastSeq durably records seq. The sequence never goes backwards.
func (f *SeqFile) SetLastSeq(seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq <= f.last {
		return fmt.Errorf("job sequence may only grow: %d is not above %d", seq, f.last)
	}
	b, err := json.Marshal(seqFileContent{LastSeq: seq})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("write job sequence: %w", err)
	}
	if err := durable.WriteFile(f.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write job sequence: %w", err)
	}
	f.last = seq
	return nil
}

// MemSeq is a SeqStore in memory, for simulated agents.
type MemSeq struct {
	mu   sync.Mutex
	last uint64
}

// LastSeq returns the sequence of the last accepted job.
func (m *MemSeq) LastSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// SetLastSeq records seq; the sequence never goes backwards.
func (m *MemSeq) SetLastSeq(seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq <= m.last {
		return fmt.Errorf("job sequence may only grow: %d is not above %d", seq, m.last)
	}
	m.last = seq
	return nil
}

// DefaultHooksPath is where the agent reads its hooks unless told otherwise.
const DefaultHooksPath = "/etc/patchbay/agent-hooks.json"

// Hooks are the commands this host lets jobs run, by name: hooks (such as
// a pre-patch snapshot) and health checks share one namespace. They come
// only from the host's local configuration file; a job can name one but
// never supply a command. Each command is an argv run without a shell.
//
// The file is a JSON object of name → argv, for example
//
//	{"pre-snapshot": ["/usr/sbin/lvcreate", "-s", "-n", "pre-patch", "-L", "2G", "/dev/vg0/root"],
//	 "nginx-up": ["/usr/bin/curl", "-fsS", "http://127.0.0.1/healthz"]}
type Hooks map[string][]string

// Limits on the hooks file.
const (
	maxHooksBytes = 1 << 20
	maxHooks      = 256
	maxHookArgs   = 256
	maxHookArg    = 4096
)

// LoadHooks reads and validates the hooks file at path. The file must be
// owned by root or by the agent's own user, and not be writable by group
// or others: whoever can write it can run commands as the agent. A missing file is an error wrapping os.ErrNotExist; callers
// that allow a host without hooks treat that as an empty Hooks.
func LoadHooks(path string) (Hooks, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent hooks: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("agent hooks: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agent hooks %s: not a regular file", path)
	}
	if uid, ok := pki.FileOwner(fi); ok && !hooksOwnerOK(uid, os.Geteuid()) {
		return nil, fmt.Errorf("agent hooks %s: owned by uid %d, not by root or the agent's user (uid %d); whoever owns it can run commands as the agent: check its content, then run `chown root %s`",
			path, uid, os.Geteuid(), path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("agent hooks %s: writable by group or others (mode %v); run `chmod go-w %s`", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxHooksBytes+1))
	if err != nil {
		return nil, fmt.Errorf("agent hooks %s: %w", path, err)
	}
	h, err := parseHooks(b)
	if err != nil {
		return nil, fmt.Errorf("agent hooks %s: %w", path, err)
	}
	return h, nil
}

// parseHooks decodes a hooks file strictly: one JSON object, no duplicate
// names, every value a non-empty array of strings.
func parseHooks(b []byte) (Hooks, error) {
	if len(b) > maxHooksBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxHooksBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New(`must be a JSON object of name → argv, like {"nginx-up": ["/usr/bin/curl", "-fsS", "http://127.0.0.1/"]}`)
	}
	h := Hooks{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		name := t.(string) // object keys are always strings
		if _, dup := h[name]; dup {
			return nil, fmt.Errorf("hook %q is declared twice", name)
		}
		if len(h) == maxHooks {
			return nil, fmt.Errorf("more than %d hooks", maxHooks)
		}
		var argv []string
		if err := dec.Decode(&argv); err != nil {
			return nil, fmt.Errorf("hook %q: argv must be an array of strings: %w", name, err)
		}
		if err := validateHook(name, argv); err != nil {
			return nil, err
		}
		h[name] = argv
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return h, nil
}

func validateHook(name string, argv []string) error {
	if !protocol.ValidCommandName(name) {
		return fmt.Errorf("hook name %q must match [a-z0-9][a-z0-9_-]{0,63}", name)
	}
	if len(argv) == 0 {
		return fmt.Errorf("hook %q: argv is empty; give the absolute path of the program and its arguments", name)
	}
	if len(argv) > maxHookArgs {
		return fmt.Errorf("hook %q: more than %d arguments", name, maxHookArgs)
	}
	for i, a := range argv {
		if len(a) > maxHookArg {
			return fmt.Errorf("hook %q: argument %d is longer than %d bytes", name, i, maxHookArg)
		}
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("hook %q: argument %d contains a NUL byte", name, i)
		}
	}
	if !filepath.IsAbs(argv[0]) || filepath.Clean(argv[0]) != argv[0] {
		return fmt.Errorf("hook %q: program %q must be a clean absolute path (commands run without a shell or PATH lookup)", name, argv[0])
	}
	return nil
}

// Command returns a copy of the argv declared under name.
func (h Hooks) Command(name string) ([]string, bool) {
	argv, ok := h[name]
	if !ok {
		return nil, false
	}
	return append([]string(nil), argv...), true
}

// hooksOwnerOK says whether a hooks file owned by uid may configure an
// agent running as agentUID: root's files always (only root can give
// files to root), and the agent's own when it runs unprivileged.
func hooksOwnerOK(uid, agentUID int) bool {
	return uid == 0 || uid == agentUID
}
