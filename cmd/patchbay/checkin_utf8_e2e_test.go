package main

import (
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/protocol"
)

// TestCheckinsWithInvalidUTF8AreRefusedWhole: invalid UTF-8 in a check-in
// was replaced with U+FFFD and stored, where docs/architecture.md says it
// is refused. Now the check-in is refused (400) and nothing is stored.
func TestCheckinsWithInvalidUTF8AreRefusedWhole(t *testing.T) {
	sp := startServerProc(t, "server")
	token := sp.enrollToken(t)
	root, state := ubuntuRoot(t, "utf8-host"), t.TempDir()
	if out, err := sp.agentRun(t, state, root, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	h := sp.show(t, "utf8-host")
	cert := agentCert(t, state)
	for _, tc := range []struct{ name, pkg string }{
		{"an invalid byte", "bad\xffname"},
		{"a truncated sequence", "bad\xe2\x82"},
		{"a lone surrogate escape", `bad\udc00name`},
	} {
		body := `{"protocol_version":1,"full":true,"facts":{"hostname":"utf8-host"},"packages":[{"name":"` + tc.pkg + `","version":"1.0","arch":"amd64"}]}`
		out, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader(body))
		if status != 400 || !strings.Contains(out, "UTF") {
			t.Errorf("check-in with %s: %d %s, want 400 naming UTF-8", tc.name, status, out)
		}
	}
	after := sp.show(t, "utf8-host")
	if after.Revision != h.Revision || after.PackageCount != h.PackageCount {
		t.Errorf("refused check-ins changed the host: revision %d→%d, packages %d→%d", h.Revision, after.Revision, h.PackageCount, after.PackageCount)
	}
	// The same check-in with valid text is taken.
	good := `{"protocol_version":1,"full":true,"facts":{"hostname":"utf8-host"},"packages":[{"name":"café","version":"1.0","arch":"amd64"}]}`
	if out, status := sp.httpDo(t, "POST", protocol.PathCheckin, "", &cert, strings.NewReader(good)); status != 200 {
		t.Errorf("valid check-in: %d %s", status, out)
	}
}
