package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/inventory"

	"github.com/patchbay/patchbay/internal/fielderr"
)

func validCheckin() CheckinRequest {
	return CheckinRequest{ProtocolVersion: Version, Full: true,
		Facts:    inventory.Facts{Hostname: "web-1", PackageFormat: inventory.FormatDpkg},
		Packages: []inventory.Package{{Name: "bash", Version: "5.1-6", Arch: "amd64", Source: "bash"}}}
}

func TestValidateRefusesHostileCheckins(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*CheckinRequest)
		field  string
	}{
		{"a newer protocol", func(c *CheckinRequest) { c.ProtocolVersion = Version + 1 }, "protocol_version"},
		{"no hostname", func(c *CheckinRequest) { c.Facts.Hostname = "" }, "facts.hostname"},
		{"an oversized hostname", func(c *CheckinRequest) { c.Facts.Hostname = strings.Repeat("a", MaxFieldBytes+1) }, "facts.hostname"},
		{"an unknown package format", func(c *CheckinRequest) { c.Facts.PackageFormat = "msi" }, "facts.package_format"},
		{"a package without a version", func(c *CheckinRequest) { c.Packages[0].Version = "" }, "packages[0]"},
		{"a NUL byte in a name", func(c *CheckinRequest) { c.Packages[0].Name = "ba\x00sh" }, "packages[0]"},
		{"invalid UTF-8", func(c *CheckinRequest) { c.Packages[0].Version = "\xff\xfe" }, "packages[0]"},
		{"a duplicate package", func(c *CheckinRequest) { c.Packages = append(c.Packages, c.Packages[0]) }, "packages[1]"},
		{"a delta mixed into a full report", func(c *CheckinRequest) { c.Removes = []string{"x:amd64"} }, "upserts"},
		{"packages in a delta", func(c *CheckinRequest) { c.Full = false }, "packages"},
		{"a negative uptime", func(c *CheckinRequest) { c.Facts.Uptime = -1 }, "facts.uptime"},
		{"a service that is not a unit name", func(c *CheckinRequest) { c.Facts.ServicesNeedingRestart = []string{"-H.service"} }, "facts.services_needing_restart"},
		{"too many services", func(c *CheckinRequest) {
			for range inventory.MaxRestartServices + 1 {
				c.Facts.ServicesNeedingRestart = append(c.Facts.ServicesNeedingRestart, "ssh.service")
			}
		}, "facts.services_needing_restart"},
		{"an update without a version", func(c *CheckinRequest) { c.Updates = []Update{{Name: "bash"}} }, "updates[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCheckin()
			tt.mutate(&c)
			err := c.Validate()
			ve, ok := err.(*fielderr.Error)
			if !ok || ve.Path != tt.field {
				t.Fatalf("got %v, want a validation error on %s", err, tt.field)
			}
		})
	}
	c := validCheckin()
	c.Facts.ServicesNeedingRestart = []string{"ssh.service", "user@1000.service"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid check-in refused: %v", err)
	}
}

func TestEnrollTokenRoundTrips(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	secret, gotFP, err := ParseEnrollToken(FormatEnrollToken("s3cret", fp))
	if err != nil || secret != "s3cret" || gotFP != fp {
		t.Fatalf("got %q %q %v", secret, gotFP, err)
	}
	for _, bad := range []string{"", "pbt_x", "PBE1.", "PBE1.secret", "PBE1.secret.nothex", "PBE1..", "PBE1.s." + strings.Repeat("ab", 31)} {
		if _, _, err := ParseEnrollToken(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzCheckinDecodeValidate(f *testing.F) {
	b, _ := json.Marshal(validCheckin())
	f.Add(b)
	f.Add([]byte(`{"full":false,"base_revision":3,"upserts":[{"name":"a","version":"1"}],"removes":["b:amd64"],"facts":{"hostname":"h"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c CheckinRequest
		if json.Unmarshal(data, &c) != nil {
			return
		}
		if c.Validate() == nil {
			for _, p := range append(c.Packages, c.Upserts...) {
				if p.Name == "" || p.Version == "" || len(p.Version) > MaxFieldBytes {
					t.Fatalf("invalid package passed validation: %+v", p)
				}
			}
		}
	})
}

func FuzzParseEnrollToken(f *testing.F) {
	f.Add(FormatEnrollToken("abc", strings.Repeat("0f", 32)))
	f.Add("PBE1..")
	f.Fuzz(func(t *testing.T, tok string) {
		secret, fp, err := ParseEnrollToken(tok)
		if err == nil && (secret == "" || len(fp) != 64) {
			t.Fatalf("accepted %q as secret %q fp %q", tok, secret, fp)
		}
	})
}
