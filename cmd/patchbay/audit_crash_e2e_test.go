package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
)

// TestFeedImportsKilledMidwayHaveOneAuditEntryEach imports a feed (the
// real AlmaLinux OSV records) under a new name seven times and kills the
// server with SIGKILL during each import, at a random moment, and once
// right after the import answered. After every restart a feed is stored if
// and only if exactly one audit entry records its import, with what it
// added; the log verifies, and so does the checkpoint file beside it.
func TestFeedImportsKilledMidwayHaveOneAuditEntryEach(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	k := startKillable(t)
	sp, dataDir := k.sp, k.sp.dataDir
	sp.mustCLI(t, "users", "create", "carol", "--role", "operator")
	feedDir, err := filepath.Abs(filepath.Join("..", "..", "internal", "advisory", "testdata", "osv", "almalinux"))
	if err != nil {
		t.Fatal(err)
	}

	// check holds the invariant for the feeds tried so far.
	check := func(tried []string) {
		t.Helper()
		var feeds []api.FeedStatus
		if err := json.Unmarshal([]byte(sp.mustCLI(t, "feeds", "status", "-o", "json")), &feeds); err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, f := range feeds {
			stored[f.Name] = true
		}
		var entries []struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal([]byte(sp.mustCLI(t, "audit", "list", "--limit", "10000", "-o", "json")), &entries); err != nil {
			t.Fatal(err)
		}
		for _, name := range tried {
			n := 0
			for _, e := range entries {
				if strings.HasPrefix(e.Summary, "feed "+name+" imported from upload ") && e.Outcome == "ok" {
					n++
				}
			}
			switch {
			case stored[name] && n != 1:
				t.Errorf("feed %s is stored and has %d audit entries, want 1", name, n)
			case !stored[name] && n != 0:
				t.Errorf("feed %s is not stored but has %d audit entries", name, n)
			}
		}
		// Whatever the entries say: one successful import entry per
		// stored feed.
		imports, crashFeeds := 0, 0
		for _, e := range entries {
			if e.Action == "POST /api/v1/feeds/import" && e.Outcome == "ok" {
				imports++
			}
		}
		for _, f := range feeds {
			if strings.Contains(f.Name, "crash-") {
				crashFeeds++
			}
		}
		if imports != crashFeeds {
			t.Errorf("%d feeds stored, %d successful import entries", crashFeeds, imports)
		}
		users := 0
		for _, e := range entries {
			if e.Action == "POST /api/v1/users" {
				users++
				if e.Summary != "user carol created with role operator" {
					t.Errorf("user entry: %q", e.Summary)
				}
			}
		}
		if users != 1 {
			t.Errorf("%d entries for the one user created", users)
		}
		if out, errOut, err := sp.cli(t, "audit", "verify"); err != nil || !strings.Contains(out, "head matches") {
			t.Errorf("audit verify: %v %s %s", err, out, errOut)
		}
	}

	rng := rand.New(rand.NewPCG(13, 5))
	var tried []string
	for i := range 7 {
		name := fmt.Sprintf("crash-%d", i)
		tried = append(tried, "osv-"+name)
		cmd := exec.Command(binary, "--server", sp.url, "--ca", filepath.Join(dataDir, "ca.crt"), "--token", sp.token(t),
			"feeds", "import", feedDir, "--name", name)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The moment of the kill is what varies: before, during or after
		// the import's transaction.
		time.Sleep(time.Duration(rng.IntN(900)) * time.Millisecond)
		k.kill()
		_ = cmd.Wait()
		k.start(t)
		check(tried)
	}
	// Killed right after the import answered.
	tried = append(tried, "osv-crash-last")
	sp.mustCLI(t, "feeds", "import", feedDir, "--name", "crash-last")
	k.kill()
	k.start(t)
	check(tried)
	var feeds []api.FeedStatus
	json.Unmarshal([]byte(sp.mustCLI(t, "feeds", "status", "-o", "json")), &feeds)
	found, midway := false, 0
	for _, f := range feeds {
		found = found || f.Name == "osv-crash-last"
		if strings.HasPrefix(f.Name, "osv-crash-") && f.Name != "osv-crash-last" {
			midway++
		}
	}
	t.Logf("%d of the 7 imports killed at a random moment were stored", midway)
	if !found {
		t.Error("the import that answered before the kill is not stored")
	}
}
