package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/rpmtest"
)

// TestRolloutWithRealDnf is TestRolloutWithRealApt for rpm: 6 agents in 3
// rings upgrade pbtest-hello from 1.0-1 to 1.1-1 with the real dnf and rpm
// inside their own image roots, each root's only repository a local one
// built with the real rpmbuild and createrepo_c. The 1.1-1 %post fails on
// one pilot host (it finds /etc/pbtest-fail there); dnf exits 0 but the
// agent reports the failure, and with a failure budget of 0 the change
// halts before production. Unlike dpkg, rpm keeps the failed package
// recorded at 1.1-1. A rollback (dnf installing the exact older version)
// then returns every host to exactly 1.0-1.
func TestRolloutWithRealDnf(t *testing.T) {
	rpmtest.Require(t)
	sp := startRingServer(t)
	work := t.TempDir()
	repo := rpmHelloRepo(t, work, `if [ -e /etc/pbtest-fail ]; then echo "pbtest-hello: post failed on purpose" >&2; exit 1; fi`)

	r := newRingRollout(t, sp, work, func(h ringHost) {
		almaHelloRoot(t, h, repo)
		if h.name == "pilot-2" {
			debtest.WriteFile(t, filepath.Join(h.root, "etc/pbtest-fail"), "")
		}
	})
	// The inventory was read from each image's own rpm database.
	if out := sp.mustCLI(t, "hosts", "show", "test-1", "-o", "json"); !strings.Contains(out, "pbtest-hello") {
		t.Fatalf("test-1's inventory lacks pbtest-hello:\n%s", out)
	}
	r.createAndSubmit()
	r.approveAndStart()

	v, failedDetail := r.runUntilStopped(3 * time.Minute)
	if !strings.Contains(failedDetail, "%post(pbtest-hello-1.1-1.noarch) scriptlet failed") ||
		!strings.Contains(failedDetail, "post failed on purpose") {
		t.Errorf("the failed host's detail does not show the %%post failure: %q", failedDetail)
	}
	// rpm records a package whose %post failed at its new version.
	r.checkHaltedAtThePilot(v, rpmtest.InstalledVersion, map[string]string{"test-1": "1.1-1", "test-2": "1.1-1", "pilot-1": "1.1-1", "pilot-2": "1.1-1",
		"production-1": "1.0-1", "production-2": "1.0-1"})

	r.checkRolledBack(r.rollBack(2*time.Minute), rpmtest.InstalledVersion)
	for _, h := range r.hosts {
		content, err := os.ReadFile(filepath.Join(h.root, "usr/share/pbtest-hello/version"))
		if err != nil || string(content) != "1.0-1\n" {
			t.Errorf("after rollback %s's installed file says %q (%v), want 1.0-1", h.name, content, err)
		}
		if _, err := os.Stat(filepath.Join(h.root, "root/.rpmdb")); err == nil {
			t.Errorf("%s: dnf wrote a second rpm database to root/.rpmdb instead of the image's", h.name)
		}
	}
	// The running machine was never touched.
	if out, err := exec.Command("rpm", "--query", "pbtest-hello").CombinedOutput(); err == nil {
		t.Errorf("pbtest-hello is in the test machine's rpm database: %s", out)
	}
}
