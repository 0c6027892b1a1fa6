package sim

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pki"
)

func syntheticBase(name string, n int) Base {
	b := Base{Name: name, OS: inventory.OS{ID: "debian", VersionID: "12"}, Format: inventory.FormatDpkg}
	for i := range n {
		b.Packages = append(b.Packages, inventory.Package{Name: "pkg" + strconv.Itoa(i), Version: "1.0-" + strconv.Itoa(i%7), Arch: "amd64"})
	}
	return b
}

// A fleet of 10,000 hosts × 1,000 packages over ten base lists carries
// well over 100,000 distinct package versions, as issue 14 asks.
func TestFleetVersionSpread(t *testing.T) {
	bases := make([]Base, 10)
	for i := range bases {
		bases[i] = syntheticBase("base"+strconv.Itoa(i), 1000)
	}
	seen := map[[3]string]bool{}
	for i := range 10000 {
		b := bases[i%len(bases)]
		for _, p := range newHost(i, b, 1000, 1).pkgs {
			seen[[3]string{b.Name + p.Name, p.Version, p.Arch}] = true
		}
	}
	if len(seen) < 100000 {
		t.Fatalf("%d distinct package versions over 10,000 hosts; want at least 100,000", len(seen))
	}
}

// A saved host comes back with its identity, revision and the package set
// the server acknowledged, and a host never enrolled comes back empty.
func TestStateFileRoundTrip(t *testing.T) {
	cfg := Config{Server: "https://127.0.0.1:1", Seed: 7, Packages: 50, Bases: []Base{syntheticBase("b", 40)}}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*host
	for i := range 2 {
		c := newHost(i, cfg.Bases[0], cfg.Packages, cfg.Seed)
		hosts = append(hosts, &host{index: i, name: c.facts.Hostname, state: &agent.MemState{}, coll: c})
	}
	if err := hosts[0].state.Save(&agent.State{HostID: "id-0", Server: cfg.Server, JobKey: "jk", Revision: 4, Key: key,
		CertPEM: []byte("cert"), CAPEM: []byte("ca")}); err != nil {
		t.Fatal(err)
	}
	hosts[0].coll.change(5)
	hosts[0].coll.ack()
	hosts[0].coll.change(1) // not acknowledged: the saved set is the one before
	want := map[string]string{}
	for _, p := range hosts[0].coll.pkgs {
		want[p.Key()] = p.Version
	}
	for k, n := range hosts[0].coll.bumps {
		if n != hosts[0].coll.acked[k] {
			want[hosts[0].coll.pkgs[k].Key()] = hosts[0].coll.pkgs[k].Version[:len(hosts[0].coll.pkgs[k].Version)-2]
		}
	}
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := saveState(path, cfg, hosts); err != nil {
		t.Fatal(err)
	}
	f, err := loadState(path, cfg)
	if err != nil || f == nil || len(f.Hosts) != 2 {
		t.Fatalf("load: %+v, %v", f, err)
	}
	c := newHost(0, cfg.Bases[0], cfg.Packages, cfg.Seed)
	st := &agent.MemState{}
	if err := f.restore(0, c, st); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Load()
	if got.HostID != "id-0" || got.Revision != 4 || got.JobKey != "jk" || string(got.CertPEM) != "cert" || string(got.CAPEM) != "ca" || !got.Enrolled() {
		t.Fatalf("restored state: %+v", got)
	}
	if len(got.Packages) != len(want) {
		t.Fatalf("restored %d packages, want %d", len(got.Packages), len(want))
	}
	for k, v := range want {
		if got.Packages[k].Version != v {
			t.Fatalf("package %s: %s, want %s", k, got.Packages[k].Version, v)
		}
	}
	for _, p := range c.pkgs {
		if want[p.Key()] != p.Version {
			t.Fatalf("collector package %s: %s, want %s", p.Key(), p.Version, want[p.Key()])
		}
	}
	st1 := &agent.MemState{}
	if err := f.restore(1, newHost(1, cfg.Bases[0], cfg.Packages, cfg.Seed), st1); err != nil {
		t.Fatal(err)
	}
	if s1, _ := st1.Load(); s1.Enrolled() {
		t.Fatalf("never-enrolled host restored as enrolled: %+v", s1)
	}
	// Another seed is refused rather than resumed with other packages.
	cfg.Seed = 8
	if _, err := loadState(path, cfg); err == nil {
		t.Fatal("state of another seed was accepted")
	}
}
