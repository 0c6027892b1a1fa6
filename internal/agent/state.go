package agent

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pki"
)

// State is what the agent remembers between runs.
type State struct {
	HostID          string `json:"host_id"`
	Server          string `json:"server"`
	JobKey          string `json:"job_key"`
	CheckinInterval int    `json:"checkin_interval_seconds"`
	// Revision is the inventory revision the server acknowledged last, and
	// Packages the package set it acknowledged with it: the base of the
	// next delta.
	Revision    int64                        `json:"revision"`
	Packages    map[string]inventory.Package `json:"packages"`
	UpdatesHash string                       `json:"updates_hash"`

	Key     crypto.Signer `json:"-"`
	CertPEM []byte        `json:"-"`
	CAPEM   []byte        `json:"-"`
}

// Enrolled reports whether the state holds an identity.
func (s *State) Enrolled() bool { return s.HostID != "" && s.Key != nil && len(s.CertPEM) > 0 }

// TLSCertificate is the client certificate for mutual TLS.
func (s *State) TLSCertificate() (tls.Certificate, error) {
	cert, err := pki.ParseCertificatePEM(s.CertPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("agent certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: s.Key, Leaf: cert}, nil
}

// CAPool is the pinned server CA.
func (s *State) CAPool() (*x509.CertPool, error) {
	ca, err := pki.ParseCertificatePEM(s.CAPEM)
	if err != nil {
		return nil, fmt.Errorf("pinned CA: %w", err)
	}
	p := x509.NewCertPool()
	p.AddCert(ca)
	return p, nil
}

// StateStore keeps the agent's state. Save must be atomic.
type StateStore interface {
	Load() (*State, error) // an empty State when nothing is saved yet
	Save(*State) error
}

// DirState keeps the state in a directory: key.pem (0600), cert.pem,
// ca.pem and state.json, each written through a rename.
type DirState struct{ Dir string }

// Load reads the state; a directory with no state.json gives an empty State.
func (d DirState) Load() (*State, error) {
	st := &State{}
	b, err := os.ReadFile(filepath.Join(d.Dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read agent state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("agent state %s is corrupt (%v); remove the state directory and enroll again", d.Dir, err)
	}
	if st.HostID == "" {
		return st, nil
	}
	if err := d.checkOwn(); err != nil {
		return nil, err
	}
	if st.Key, err = pki.ReadKey(filepath.Join(d.Dir, "key.pem")); err != nil {
		return nil, err
	}
	if st.CertPEM, err = os.ReadFile(filepath.Join(d.Dir, "cert.pem")); err != nil {
		return nil, fmt.Errorf("read agent certificate: %w", err)
	}
	if st.CAPEM, err = os.ReadFile(filepath.Join(d.Dir, "ca.pem")); err != nil {
		return nil, fmt.Errorf("read pinned CA: %w", err)
	}
	return st, nil
}

// Save writes the state; identity files first, so state.json never names
// an identity whose files are missing.
func (d DirState) Save(st *State) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if st.Key != nil {
		keyPEM, err := pki.EncodeKey(st.Key)
		if err != nil {
			return err
		}
		if err := writeIfChanged(filepath.Join(d.Dir, "key.pem"), keyPEM, 0o600); err != nil {
			return err
		}
	}
	if err := writeIfChanged(filepath.Join(d.Dir, "cert.pem"), st.CertPEM, 0o644); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(d.Dir, "ca.pem"), st.CAPEM, 0o644); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(d.Dir, "state.json"), b, 0o600)
}

func writeIfChanged(path string, data []byte, perm os.FileMode) error {
	if len(data) == 0 {
		return nil
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	if err := durable.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// MemState keeps the state in memory, for simulated agents.
type MemState struct{ st *State }

// Load returns the state saved last.
func (m *MemState) Load() (*State, error) {
	if m.st == nil {
		return &State{}, nil
	}
	cp := *m.st
	return &cp, nil
}

// Save keeps a copy of the state.
func (m *MemState) Save(st *State) error {
	cp := *st
	m.st = &cp
	return nil
}

// checkOwn refuses a state directory others could have planted files in:
// state.json pins the server's CA and job key, so whoever can change them
// can send this host jobs. The directory and its files must be the agent's
// user's and not writable by group or others, the key not readable by them.
func (d DirState) checkOwn() error {
	if err := pki.CheckPrivateDir(d.Dir, "agent state directory"); err != nil {
		return err
	}
	for _, f := range []struct {
		name    string
		private bool
	}{{"state.json", true}, {"key.pem", true}, {"cert.pem", false}, {"ca.pem", false}} {
		if err := pki.CheckOwnFile(filepath.Join(d.Dir, f.name), f.private); err != nil {
			return err
		}
	}
	return nil
}
