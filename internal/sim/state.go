package sim

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pki"
)

// The state file keeps an enrolled fleet between runs, so a benchmark
// enrolls 10,000 hosts once and measures check-ins as often as it likes.
// For each host it holds the identity (host ID, private key, certificate)
// and, instead of the ~1,000 packages the server acknowledged last, the
// seed's derivation of them: the host's index (which, with the run's seed,
// fixes its base list and patch lags) and the upgrades made since
// (collector.acked). A resumed host rebuilds the same package set and
// sends deltas against the revision it saved. A host whose last check-in
// was not acknowledged, or that ran jobs, saves revision 0 and sends a
// full report when it resumes.
//
// The file holds private keys: it is written 0600, and it is for
// simulated hosts only.

const stateVersion = 1

type savedFleet struct {
	Version  int         `json:"version"`
	Server   string      `json:"server"`
	Seed     uint64      `json:"seed"`
	Packages int         `json:"packages"`
	Bases    []string    `json:"bases"`
	CA       string      `json:"ca_pem"`
	Hosts    []savedHost `json:"hosts"`
}

type savedHost struct {
	Name            string      `json:"name"`
	HostID          string      `json:"host_id"`
	Key             string      `json:"key_pem"`
	Cert            string      `json:"cert_pem"`
	JobKey          string      `json:"job_key"`
	CheckinInterval int         `json:"checkin_interval_seconds"`
	Revision        int64       `json:"revision"`
	UpdatesHash     string      `json:"updates_hash"`
	Bumps           map[int]int `json:"bumps,omitempty"` // package index → upgrades since the host was built
}

func baseNames(bs []Base) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out
}

// loadState reads the state file; a missing file is an empty fleet.
func loadState(path string, cfg Config) (*savedFleet, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sim state: %w", err)
	}
	var f savedFleet
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sim state %s: %w", path, err)
	}
	switch {
	case f.Version != stateVersion:
		return nil, fmt.Errorf("sim state %s is version %d, this build reads %d: remove it to enroll a new fleet", path, f.Version, stateVersion)
	case f.Seed != cfg.Seed || f.Packages != cfg.Packages || strings.Join(f.Bases, ",") != strings.Join(baseNames(cfg.Bases), ","):
		return nil, fmt.Errorf("sim state %s was made with another seed, --packages or package lists (seed %d, %d packages, lists %s): use the same, or remove it",
			path, f.Seed, f.Packages, strings.Join(f.Bases, ","))
	}
	// Another URL for the same server (a new port) is fine: the hosts pin
	// its CA, so a different server refuses them at the first check-in.
	f.Server = cfg.Server
	return &f, nil
}

// restore puts host i back: its package set into c, its identity and
// acknowledged inventory into st.
func (f *savedFleet) restore(i int, c *collector, st *agent.MemState) error {
	h := f.Hosts[i]
	if h.HostID == "" {
		return nil // never enrolled: enrolls now
	}
	if h.Name != c.facts.Hostname {
		return fmt.Errorf("sim state: host %d is %s, the run builds %s", i, h.Name, c.facts.Hostname)
	}
	block, _ := pem.Decode([]byte(h.Key))
	if block == nil {
		return fmt.Errorf("sim state: host %s: no PEM key", h.Name)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("sim state: host %s: %w", h.Name, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return fmt.Errorf("sim state: host %s: key cannot sign", h.Name)
	}
	for k, n := range h.Bumps {
		if k < 0 || k >= len(c.pkgs) {
			return fmt.Errorf("sim state: host %s upgraded package %d of %d", h.Name, k, len(c.pkgs))
		}
		for range n {
			c.pkgs[k].Version = bump(c.pkgs[k].Version)
		}
		c.bumps[k], c.acked[k] = n, n
	}
	acked := make(map[string]inventory.Package, len(c.pkgs))
	for _, p := range c.pkgs {
		acked[p.Key()] = p
	}
	return st.Save(&agent.State{HostID: h.HostID, Server: f.Server, JobKey: h.JobKey, CheckinInterval: h.CheckinInterval,
		Revision: h.Revision, Packages: acked, UpdatesHash: h.UpdatesHash, Key: key, CertPEM: []byte(h.Cert), CAPEM: []byte(f.CA)})
}

// saveState writes the fleet through a rename, so an interrupted run
// leaves the previous file whole.
func saveState(path string, cfg Config, hosts []*host) error {
	f := savedFleet{Version: stateVersion, Server: cfg.Server, Seed: cfg.Seed, Packages: cfg.Packages, Bases: baseNames(cfg.Bases),
		Hosts: make([]savedHost, len(hosts))}
	for i, h := range hosts {
		st, err := h.state.Load()
		if err != nil {
			return err
		}
		sh := savedHost{Name: h.name}
		if st.Enrolled() {
			keyPEM, err := pki.EncodeKey(st.Key)
			if err != nil {
				return err
			}
			f.CA = string(st.CAPEM)
			h.coll.mu.Lock()
			sh = savedHost{Name: h.name, HostID: st.HostID, Key: string(keyPEM), Cert: string(st.CertPEM), JobKey: st.JobKey,
				CheckinInterval: st.CheckinInterval, Revision: st.Revision, UpdatesHash: st.UpdatesHash, Bumps: h.coll.acked}
			if h.coll.installed || h.coll.unsure {
				sh.Revision = 0
			}
			h.coll.mu.Unlock()
		}
		f.Hosts[i] = sh
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sim-state-*")
	if err != nil {
		return fmt.Errorf("save sim state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save sim state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save sim state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save sim state: %w", err)
	}
	return nil
}
