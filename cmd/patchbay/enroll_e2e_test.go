package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
)

func TestAgentEnrollsReportsInventoryAndSendsDeltas(t *testing.T) {
	sp := startServerProc(t, "server", "--checkin-interval", "2s")
	token := sp.enrollToken(t, "--max-hosts", "2", "--expires", "1h")

	rootA, stateA := ubuntuRoot(t, "web-1"), t.TempDir()
	if out, err := sp.agentRun(t, stateA, rootA, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	hosts := sp.hosts(t)
	if len(hosts) != 1 {
		t.Fatalf("want 1 host after enrollment, got %d", len(hosts))
	}
	h := sp.show(t, "web-1")
	if h.PackageCount != 90 || len(h.Packages) != 90 {
		t.Errorf("want the 90 installed packages of the status file, got count %d, listed %d", h.PackageCount, len(h.Packages))
	}
	if h.OS.ID != "ubuntu" || h.OS.VersionID != "18.04" || !h.RebootRequired {
		t.Errorf("facts: os %q %q reboot %v; want ubuntu 18.04 with reboot required", h.OS.ID, h.OS.VersionID, h.RebootRequired)
	}
	if v := pkgVersion(h, "libc6"); v != "2.27-3ubuntu1" {
		t.Errorf("libc6 version %q, want 2.27-3ubuntu1", v)
	}
	for _, p := range h.Packages {
		if p.Name == "libc6" && p.Source != "glibc" {
			t.Errorf("libc6 source %q, want glibc", p.Source)
		}
	}

	// An upgrade on the host reaches the server as a delta.
	replaceInFile(t, filepath.Join(rootA, "var/lib/dpkg/status"), "Version: 2.27-3ubuntu1\n", "Version: 2.27-3ubuntu1.6\n")
	if out, err := sp.agentRun(t, stateA, rootA, ""); err != nil {
		t.Fatalf("second check-in: %v\n%s", err, out)
	}
	h2 := sp.show(t, "web-1")
	if v := pkgVersion(h2, "libc6"); v != "2.27-3ubuntu1.6" {
		t.Errorf("after delta libc6 is %q, want 2.27-3ubuntu1.6", v)
	}
	if h2.Revision != h.Revision+1 || h2.PackageCount != 90 {
		t.Errorf("after delta: revision %d (was %d), %d packages", h2.Revision, h.Revision, h2.PackageCount)
	}
	if got := metricValue(t, sp, `patchbay_agent_checkins_total{kind="delta"}`); got != "1" {
		t.Errorf("delta check-ins counted: %q, want 1", got)
	}

	// A second host on the same token; it cannot touch the first host's data.
	rootB, stateB := ubuntuRoot(t, "db-1"), t.TempDir()
	replaceInFile(t, filepath.Join(rootB, "var/lib/dpkg/status"), "Package: bash\n", "Package: bash-b\n")
	if out, err := sp.agentRun(t, stateB, rootB, token); err != nil {
		t.Fatalf("agent B: %v\n%s", err, out)
	}
	if v := pkgVersion(sp.show(t, "web-1"), "libc6"); v != "2.27-3ubuntu1.6" {
		t.Errorf("host B's report changed host A: libc6 %q", v)
	}
	if d := sp.show(t, "db-1"); pkgVersion(d, "bash-b") == "" || pkgVersion(d, "bash") != "" {
		t.Errorf("host B's packages not its own")
	}

	// The token is used up.
	out, err := sp.agentRun(t, t.TempDir(), ubuntuRoot(t, "third"), token)
	if err == nil || !strings.Contains(out, "exhausted") && !strings.Contains(out, "used") {
		t.Errorf("third enrollment on a 2-host token: err %v, output:\n%s", err, out)
	}

	// Silent hosts become stale after three intervals (6 s): wait for it,
	// and check it did not happen within two.
	quiet := time.Now()
	if n := len(sp.hosts(t, "--stale", "true")); n != 0 {
		t.Errorf("fresh hosts shown stale: %d", n)
	}
	for n := 0; n != 2; n = len(sp.hosts(t, "--stale", "true")) {
		if time.Since(quiet) > 30*time.Second {
			t.Fatalf("want both silent hosts stale, got %d after 30 s", n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if waited := time.Since(quiet); waited < 4*time.Second {
		t.Errorf("hosts silent for %v shown stale; want three 2 s intervals", waited)
	}
	if n := len(sp.hosts(t, "--os", "ubuntu 18.04", "--reboot-required", "true")); n != 2 {
		t.Errorf("filter by os and reboot-required: %d hosts, want 2", n)
	}
	if n := len(sp.hosts(t, "--os", "debian")); n != 0 {
		t.Errorf("filter by os debian: %d hosts, want 0", n)
	}
}

func TestExpiredTokenIsRefusedWithAClearMessage(t *testing.T) {
	sp := startServerProc(t, "server")
	token := sp.enrollToken(t, "--expires", "1s")
	time.Sleep(1500 * time.Millisecond)
	out, err := sp.agentRun(t, t.TempDir(), ubuntuRoot(t, "late"), token)
	if err == nil || !strings.Contains(out, "expired") {
		t.Fatalf("enrollment with an expired token: err %v, output:\n%s", err, out)
	}
	if n := len(sp.hosts(t)); n != 0 {
		t.Errorf("refused enrollment left %d hosts", n)
	}
	// A token that is not one at all.
	out, err = sp.agentRun(t, t.TempDir(), ubuntuRoot(t, "x"), "PBE1.nosuchsecret."+strings.Repeat("ab", 32))
	if err == nil {
		t.Fatalf("enrollment with a wrong-CA token succeeded:\n%s", out)
	}
}

func TestRevokedHostAndForeignCertificatesAreRefused(t *testing.T) {
	sp := startServerProc(t, "server")
	token := sp.enrollToken(t)
	root, state := ubuntuRoot(t, "victim"), t.TempDir()
	if out, err := sp.agentRun(t, state, root, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	h := sp.show(t, "victim")

	// A certificate from another CA naming the same host: the TLS handshake
	// fails and the server logs the refusal.
	foreign := foreignCert(t, h.ID)
	body, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &foreign, strings.NewReader("{}"))
	if status != 0 {
		t.Errorf("check-in with a foreign certificate answered %d: %s", status, body)
	}
	waitFor(t, func() bool { return strings.Contains(sp.stderr.String(), "connection refused") }, "server logs the refused handshake")

	// No certificate at all.
	if _, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", nil, strings.NewReader("{}")); status != 401 {
		t.Errorf("check-in without a certificate: status %d, want 401", status)
	}

	// Malformed and oversized check-ins are refused and store nothing.
	cert := agentCert(t, state)
	if _, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader("{not json")); status != 400 {
		t.Errorf("malformed check-in: status %d, want 400", status)
	}
	huge := `{"protocol_version":1,"full":true,"facts":{"hostname":"victim"},"packages":[{"name":"x","version":"` + strings.Repeat("1", 40<<20) + `"}]}`
	if _, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader(huge)); status != 413 {
		t.Errorf("oversized check-in: status %d, want 413", status)
	}
	long := `{"protocol_version":1,"full":true,"facts":{"hostname":"victim"},"packages":[{"name":"x","version":"` + strings.Repeat("1", 5000) + `"}]}`
	if _, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader(long)); status != 400 {
		t.Errorf("check-in with an absurd version: status %d, want 400", status)
	}
	if after := sp.show(t, "victim"); after.Revision != h.Revision || after.PackageCount != 90 {
		t.Errorf("refused check-ins changed the host: revision %d→%d, packages %d", h.Revision, after.Revision, after.PackageCount)
	}

	// Revocation: the host's next request is refused.
	sp.mustCLI(t, "hosts", "revoke", h.ID)
	out, err := sp.agentRun(t, state, root, "")
	if err == nil || !strings.Contains(out, "revoked") {
		t.Errorf("revoked agent check-in: err %v, output:\n%s", err, out)
	}
	var e struct{ Error struct{ Code string } }
	body, status = sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader("{}"))
	if json.Unmarshal([]byte(body), &e); status != 403 || e.Error.Code != "revoked" {
		t.Errorf("revoked host: status %d body %s", status, body)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	waitForWithin(t, 30*time.Second, cond, what)
}

// waitForWithin polls cond until it holds, failing t after within.
func waitForWithin(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("timed out waiting: %s", what)
}
