package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyExportRoundTripThroughTheCLI(t *testing.T) {
	sp := startServerProc(t, "server", "--feed-source", "none")
	for _, u := range []string{"alice:operator", "bob:approver", "carol:stakeholder", "dave:admin", "erin:security", "frank:auditor"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	org, _ := filepath.Abs("testdata/org.yaml")
	out := sp.mustCLI(t, "apply", "-f", org, "--dry-run")
	if !strings.Contains(out, "create group payments-prod") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run:\n%s", out)
	}
	if exp := sp.mustCLI(t, "export"); strings.Contains(exp, "payments") {
		t.Fatalf("the dry run applied something:\n%s", exp)
	}
	if out := sp.mustCLI(t, "apply", "-f", org); !strings.Contains(out, "applied: revision 1") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := sp.mustCLI(t, "apply", "-f", org); !strings.Contains(out, "no changes") {
		t.Fatalf("second apply changed something:\n%s", out)
	}
	exported := sp.mustCLI(t, "export")
	dir := t.TempDir()
	path := filepath.Join(dir, "exported.yaml")
	os.WriteFile(path, []byte(exported), 0o644)
	if out := sp.mustCLI(t, "apply", "-f", path); !strings.Contains(out, "no changes") {
		t.Fatalf("applying the export changed something:\n%s", out)
	}
	if again := sp.mustCLI(t, "export"); again != exported {
		t.Fatal("export is not stable")
	}
	// A file with a mistake changes nothing and names the field.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(exported, "tz: Europe/Berlin", "tz: Europe/Atlantis", 1)), 0o644)
	_, errOut, err := sp.cli(t, "apply", "-f", bad)
	if err == nil || !strings.Contains(errOut, "Europe/Atlantis") || !strings.Contains(errOut, "tz") {
		t.Fatalf("bad apply: %v\n%s", err, errOut)
	}
	if sp.mustCLI(t, "export") != exported {
		t.Fatal("a refused apply changed the organisation")
	}
	if out := sp.mustCLI(t, "groups", "list"); !strings.Contains(out, "payments-prod") || !strings.Contains(out, "production") {
		t.Fatalf("groups list:\n%s", out)
	}
	// A calendar URL anyone can subscribe to, with no other credential.
	url := strings.TrimSpace(sp.mustCLI(t, "calendars", "create", "group", "payments-prod"))
	pem, _ := os.ReadFile(filepath.Join(sp.dataDir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "BEGIN:VCALENDAR") || !strings.Contains(string(body), "patch-tuesday") {
		t.Fatalf("calendar %s: %d\n%s", url, resp.StatusCode, body)
	}
	// Everything above is in the audit trail, intact.
	if out := sp.mustCLI(t, "audit", "verify"); !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %s", out)
	}
	if out := sp.mustCLI(t, "audit", "export", "--format", "syslog"); !strings.Contains(out, `action="POST /api/v1/org/apply"`) {
		t.Fatalf("audit export lacks the apply:\n%s", out)
	}
}
