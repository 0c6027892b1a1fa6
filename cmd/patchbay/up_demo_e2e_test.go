package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/testenv"
)

// TestUpDemoRunsAFleetWithFindingsAndNoFeedSources: `up --demo` imports
// the shared data's feeds from files, syncs nothing from the internet, and
// its simulated Alpine 3.10 and Ubuntu hosts carry findings.
func TestUpDemoRunsAFleetWithFindingsAndNoFeedSources(t *testing.T) {
	data := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(data, "inventories", "package-lists")); err != nil {
		testenv.SkipOrFail(t, "shared/data is not beside the repository (../shared): %v", err)
	}
	abs, _ := filepath.Abs(data)
	sp := startServerProc(t, "up", "--demo", "--demo-data", abs, "--demo-hosts", "10", "--checkin-interval", "5s")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		hosts := sp.hosts(t)
		withFindings := map[string]bool{}
		for _, h := range hosts {
			if h.OpenFindings > 0 {
				withFindings[strings.SplitN(strings.TrimPrefix(h.Hostname, "sim-"), "-", 2)[0]] = true
			}
		}
		if len(hosts) == 10 && withFindings["alpine"] && withFindings["ubuntu"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %d hosts, findings on %v; server log:\n%s", len(hosts), withFindings, tail(sp.stderr.String(), 4000))
		}
		time.Sleep(2 * time.Second)
	}
	// Nothing is synced from the internet: no feed reports an error, and
	// the feeds are the local files.
	out := sp.mustCLI(t, "feeds", "status")
	for _, want := range []string{"osv-almalinux8", "osv-ubuntu", "cisa-kev", "first-epss"} {
		if !strings.Contains(out, want) {
			t.Errorf("feeds status lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(sp.stderr.String(), "feed sync") && strings.Contains(sp.stderr.String(), "https://") {
		t.Errorf("the demo reached for a feed source:\n%s", tail(sp.stderr.String(), 2000))
	}
}
