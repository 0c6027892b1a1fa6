package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// TestUpReportsThisMachinesRealPackages is the README's first command: the
// server with this machine enrolled, whose packages match dpkg-query.
func TestUpReportsThisMachinesRealPackages(t *testing.T) {
	testenv.NeedTools(t, "it compares with a Debian-family machine's own package database: apt-get install -y dpkg", "dpkg-query")
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 4 && f[0] == "installed" {
			want[f[1]+":"+f[3]] = f[2]
		}
	}

	sp := startServerProc(t, "up")
	hostname, _ := os.Hostname()
	var d hostDetail
	deadline := time.Now().Add(90 * time.Second)
	for {
		if hosts := sp.hosts(t); len(hosts) == 1 && hosts[0].PackageCount > 0 {
			d = sp.show(t, hosts[0].ID)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("this machine did not appear with packages; server log:\n%s", sp.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d.Hostname != hostname {
		t.Errorf("hostname %q, want %q", d.Hostname, hostname)
	}
	if len(d.Packages) != len(want) {
		t.Errorf("server lists %d packages, dpkg-query %d", len(d.Packages), len(want))
	}
	for _, p := range d.Packages {
		if v, ok := want[p.Name+":"+p.Arch]; !ok || v != p.Version {
			t.Errorf("package %s:%s %s; dpkg-query says %q", p.Name, p.Arch, p.Version, v)
		}
	}
	if d.Kernel == "" || d.Arch == "" || d.OS.ID == "" {
		t.Errorf("facts missing: kernel %q arch %q os %q", d.Kernel, d.Arch, d.OS.ID)
	}
}
