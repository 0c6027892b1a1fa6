package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/api"
)

// noJSON fails when a table-mode output is JSON.
func noJSON(t *testing.T, what, out string) {
	t.Helper()
	if s := strings.TrimSpace(out); strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || strings.Contains(out, `":`) {
		t.Errorf("%s printed JSON in table mode:\n%s", what, out)
	}
}

// TestCLIVerbsPrintTablesInTableModeAndAPIShapesInJSON runs the verbs
// whose table mode printed raw JSON, in both modes, with their exit codes.
func TestCLIVerbsPrintTablesInTableModeAndAPIShapesInJSON(t *testing.T) {
	sp := startServerProc(t, "server", "--feed-source", "none")
	for _, u := range []string{"alice:operator", "bob:approver", "carol:stakeholder", "dave:admin", "erin:security", "frank:auditor"} {
		name, role, _ := strings.Cut(u, ":")
		sp.mustCLI(t, "users", "create", name, "--role", role)
	}
	org, _ := filepath.Abs("testdata/org.yaml")
	sp.mustCLI(t, "apply", "-f", org)

	// exceptions request, list, revoke.
	out := sp.mustCLI(t, "exceptions", "request", "--group", "payments-prod", "--advisory", "USN-7768-1",
		"--justification", "vendor certifies 1.19 only", "--expires", "720h")
	noJSON(t, "exceptions request", out)
	m := regexp.MustCompile(`^exception (\S+): pending \(team payments; advisory USN-7768-1, group payments-prod; expires \S+\)\n`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "patchbay exceptions approve "+m[1]) {
		t.Fatalf("exceptions request:\n%s", out)
	}
	id := m[1]
	var ex api.Exception
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "exceptions", "request", "--group", "payments-prod", "--package", "openssl",
		"--justification", "j", "--expires", "720h", "-o", "json")), &ex); err != nil || ex.State != "pending" || ex.Package != "openssl" {
		t.Errorf("exceptions request -o json: %+v %v", ex, err)
	}
	out = sp.mustCLI(t, "exceptions", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(out, id) {
		t.Errorf("exceptions list:\n%s", out)
	}
	if out := sp.mustCLI(t, "exceptions", "revoke", id); !strings.HasPrefix(out, "exception "+id+": revoked (team payments;") {
		t.Errorf("exceptions revoke:\n%s", out)
	}

	// kb put, list, show.
	entry := filepath.Join(t.TempDir(), "kb.json")
	os.WriteFile(entry, []byte(`{"title":"openssl 3.0.2-0ubuntu1.9 breaks TLS 1.0 clients","problem":"old POS terminals fail the handshake",
"fix":"re-enable TLS 1.0 for the POS VLAN","packages":[{"name":"openssl","versions":["3.0.2-0ubuntu1.9"]}],"status":"published"}`), 0o644)
	out = sp.mustCLI(t, "kb", "put", "-f", entry)
	noJSON(t, "kb put", out)
	if !regexpLine(out, `^packages\s+openssl \(3\.0\.2-0ubuntu1\.9\)$`) || !strings.Contains(out, "PROBLEM\nold POS terminals fail the handshake") {
		t.Errorf("kb put:\n%s", out)
	}
	out = sp.mustCLI(t, "kb", "list")
	noJSON(t, "kb list", out)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || len(lines[1]) > 200 || !strings.Contains(lines[1], "published") {
		t.Errorf("kb list:\n%s", out)
	}
	var kb []api.KBEntry
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "kb", "list", "-o", "json")), &kb); err != nil || len(kb) != 1 || kb[0].Packages[0].Name != "openssl" {
		t.Errorf("kb list -o json: %+v %v", kb, err)
	}
	os.WriteFile(entry, []byte(`{"title":"x","problme":"typo"}`), 0o644)
	if _, errOut, err := sp.cli(t, "kb", "put", "-f", entry); err == nil || !strings.Contains(errOut, `unknown field "problme"`) {
		t.Errorf("kb put with a misspelt field: %v %s", err, errOut)
	}

	// retrospectives takes --team and --month.
	out, errOut, err := sp.cli(t, "retrospectives", "--team", "payments", "--month", "2026-11")
	if err != nil || !strings.HasPrefix(out, "CHANGE ") {
		t.Errorf("retrospectives --team --month: %v %s\n%s", err, errOut, out)
	}
	if _, errOut, err := sp.cli(t, "retrospectives", "--month", "November"); err == nil || !strings.Contains(errOut, "month must be YYYY-MM") {
		t.Errorf("retrospectives --month November: %v %s", err, errOut)
	}

	// changes halt takes --reason; an unknown change fails.
	if _, errOut, err := sp.cli(t, "changes", "halt", "no-such-change", "--reason", "db lag"); err == nil || strings.Contains(errOut, "unknown flag") {
		t.Errorf("changes halt --reason on no change: %v %s", err, errOut)
	}

	// emergency-stop and its release by a second user.
	out = sp.mustCLI(t, "emergency-stop", "--reason", "drill")
	noJSON(t, "emergency-stop", out)
	if !strings.HasPrefix(out, "EMERGENCY STOP in force (pulled by ") || !strings.Contains(out, "0 changes halted") {
		t.Errorf("emergency-stop:\n%s", out)
	}
	dave := strings.TrimSpace(sp.mustCLI(t, "tokens", "create", "dave", "--user", "dave", "--role", "admin"))
	out, errOut, err = run(t, "--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", dave, "emergency-stop", "release")
	if err != nil || !strings.HasPrefix(out, "emergency stop released by dave") {
		t.Errorf("emergency-stop release: %v %s\n%s", err, errOut, out)
	}

	// audit list: filters and pages. Six users were created.
	out, errOut, err = sp.cli(t, "audit", "list", "--action", "/users", "--limit", "2")
	if err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 || strings.TrimSpace(errOut) != "showing 2 of 6 entries (--all for every one, or --limit N)" {
		t.Errorf("audit list --action /users --limit 2: %v\nstdout:\n%s\nstderr: %q", err, out, errOut)
	}
	if !strings.Contains(out, "user alice created with role operator") && !strings.Contains(out, "alice") {
		t.Errorf("audit list says what happened in domain terms:\n%s", out)
	}
	var entries []api.AuditEntry
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "audit", "list", "--action", "/users", "--all", "-o", "json")), &entries); err != nil || len(entries) != 6 {
		t.Errorf("audit list --all -o json: %d entries, %v", len(entries), err)
	}
	if out := sp.mustCLI(t, "audit", "list", "--actor", "nobody"); strings.Count(out, "\n") != 1 {
		t.Errorf("audit list --actor nobody:\n%s", out)
	}
	if _, errOut, err := sp.cli(t, "audit", "list", "--since", "yesterday"); err == nil || !strings.Contains(errOut, "since must be") {
		t.Errorf("audit list --since yesterday: %v %s", err, errOut)
	}

	// Without the CA, a clear message.
	_, errOut, err = run(t, "--server", sp.url, "--token", sp.token(t), "hosts", "list")
	if err == nil || !strings.Contains(errOut, "pass the server's CA certificate with --ca") || strings.Contains(errOut, "x509:") {
		t.Errorf("no CA: %v %s", err, errOut)
	}
	// Unknown flags fail.
	if _, _, err := sp.cli(t, "vulns", "list", "--colour"); err == nil {
		t.Error("vulns list --colour succeeded")
	}
}
