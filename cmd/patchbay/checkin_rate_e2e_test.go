package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
)

// inventedCheckin is a full check-in of n packages at version, none of
// which the server holds.
func inventedCheckin(t *testing.T, n int, version string) *bytes.Reader {
	t.Helper()
	req := protocol.CheckinRequest{ProtocolVersion: protocol.Version, Full: true,
		Facts: inventory.Facts{Hostname: "churner", OS: inventory.OS{ID: "ubuntu", VersionID: "18.04"}, PackageFormat: inventory.FormatDpkg}}
	for i := range n {
		req.Packages = append(req.Packages, inventory.Package{Name: fmt.Sprintf("invented-%05d", i), Version: version, Arch: "amd64"})
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// A host that invents package versions is held to 10,000 new ones an
// hour: the server answers 429 with the numbers, and the agent reports the
// refusal.
func TestAHostInventingPackageVersionsIsRefusedAndItsAgentSaysWhy(t *testing.T) {
	sp := startServerProc(t, "server")
	token := sp.enrollToken(t)
	root, state := ubuntuRoot(t, "churner"), t.TempDir()
	if out, err := sp.agentRun(t, state, root, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	cert := agentCert(t, state)
	// The host owes nothing yet: one large check-in passes.
	if body, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, inventedCheckin(t, 12000, "1.0")); status != 200 {
		t.Fatalf("first check-in of 12,000 new versions: %d %s", status, body)
	}
	body, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, inventedCheckin(t, 12000, "2.0"))
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != 429 || e.Error.Code != "rate_limited" ||
		!strings.Contains(e.Error.Message, "it adds 12000 package versions the server does not hold, and a host may add at most 10000 an hour") {
		t.Fatalf("second check-in of 12,000 new versions: %d %s, want 429 rate_limited with the numbers", status, body)
	}
	if h := sp.show(t, "churner"); h.PackageCount != 12000 || pkgVersion(h, "invented-00000") != "1.0" {
		t.Errorf("the refused check-in changed the host: %d packages, invented-00000 at %q", h.PackageCount, pkgVersion(h, "invented-00000"))
	}
	// The agent's own inventory (its 90 versions were removed when the
	// invented ones replaced them) is refused too, and it says why.
	out, err := sp.agentRun(t, state, root, "")
	if err == nil || !strings.Contains(out, "rate_limited") || !strings.Contains(out, "a host may add at most 10000 an hour") {
		t.Fatalf("agent check-in while the host is over its limit: err %v, output:\n%s", err, out)
	}
}
