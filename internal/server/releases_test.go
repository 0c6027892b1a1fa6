package server

import (
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/patchbay/patchbay/internal/store"
)

func TestAgentTargets(t *testing.T) {
	platforms := map[string]release.Release{
		"linux/amd64": {Version: "v1.1.0", OS: "linux", Arch: "amd64"},
		"linux/arm64": {Version: "v1.1.0", OS: "linux", Arch: "arm64", AllowDowngrade: true},
	}
	host := func(version, platform string) store.Host {
		return store.Host{ID: "h", Facts: inventory.Facts{AgentVersion: version, AgentPlatform: platform}}
	}
	for _, tc := range []struct {
		name       string
		h          store.Host
		status     string // "" means no target
		reasonPart string
	}{
		{"an older agent is planned", host("v1.0.0", "linux/amd64"), "planned", ""},
		{"an agent on the release already needs nothing", host("v1.1.0", "linux/amd64"), "", ""},
		{"an agent that reports no version is excluded", host("", ""), "excluded", "does not report its version"},
		{"a platform without a release is excluded", host("v1.0.0", "linux/386"), "excluded", "no release v1.1.0 is uploaded for its platform linux/386"},
		{"a newer agent is a refused downgrade", host("v1.2.0", "linux/amd64"), "downgrade-refused", "runs v1.2.0, newer than v1.1.0"},
		{"a newer agent is planned when the release allows a downgrade", host("v1.2.0", "linux/arm64"), "planned", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := agentTargets(tc.h, "v1.1.0", platforms)
			if tc.status == "" {
				if got != nil {
					t.Fatalf("targets %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Name != "patchbay-agent" || got[0].Version != "v1.1.0" || got[0].Installed != tc.h.Facts.AgentVersion ||
				got[0].Status != tc.status || !strings.Contains(got[0].Reason, tc.reasonPart) {
				t.Fatalf("targets %+v, want patchbay-agent v1.1.0 %s (reason containing %q)", got, tc.status, tc.reasonPart)
			}
		})
	}
}

func TestAgentReleaseSpecRefusesMixing(t *testing.T) {
	for _, tc := range []struct {
		spec  ChangeSpec
		field string
	}{
		{ChangeSpec{AgentRelease: "1.1"}, "agent_release"},
		{ChangeSpec{AgentRelease: "v1.1.0", Packages: []PackageTarget{{Name: "openssl", Version: "3"}}}, "agent_release"},
		{ChangeSpec{AgentRelease: "v1.1.0", AutoRollback: true}, "auto_rollback"},
		{ChangeSpec{AgentRelease: "v1.1.0", Reboot: "if-required"}, "reboot"},
	} {
		err := checkAgentReleaseSpec(tc.spec)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("spec %+v: %v, want a refusal on %s", tc.spec, err, tc.field)
		}
	}
	if err := checkAgentReleaseSpec(ChangeSpec{AgentRelease: "v1.1.0"}); err != nil {
		t.Errorf("a plain agent release: %v", err)
	}
}
