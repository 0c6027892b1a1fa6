package advisory

import (
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/version"
)

func debian(ranges []Range, versions ...string) Affected {
	d, _ := ParseEcosystem("Debian:12")
	return Affected{Ecosystem: "Debian:12", Distro: d, Package: "pkg", Ranges: ranges, Versions: versions}
}

func eco(events ...Event) Range { return Range{Type: RangeEcosystem, Events: events} }

func TestIsAffected(t *testing.T) {
	tests := []struct {
		name     string
		affected Affected
		v        string
		want     bool
		fixed    string
	}{
		{"introduced 0 covers the oldest version", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0-1"})}), "0.1-1", true, "2.0-1"},
		{"a version just below the fix is affected", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0-1"})}), "2.0-0.1", true, "2.0-1"},
		{"the fixed version is not affected", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0-1"})}), "2.0-1", false, ""},
		{"a version above the fix is not affected", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0-1"})}), "2.0-1+deb12u1", false, ""},
		{"a tilde backport below the fix is affected", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0-1"})}), "2.0-1~bpo1", true, "2.0-1"},
		{"a version below introduced is not affected", debian([]Range{eco(Event{Introduced: "1.5"}, Event{Fixed: "2.0"})}), "1.4", false, ""},
		{"the introduced version is affected", debian([]Range{eco(Event{Introduced: "1.5"}, Event{Fixed: "2.0"})}), "1.5", true, "2.0"},
		{"introduced with no fix affects everything after", debian([]Range{eco(Event{Introduced: "1.5"})}), "99", true, ""},
		{"last_affected is inclusive", debian([]Range{eco(Event{Introduced: "0"}, Event{LastAffected: "1.9"})}), "1.9", true, ""},
		{"above last_affected is not affected", debian([]Range{eco(Event{Introduced: "0"}, Event{LastAffected: "1.9"})}), "1.9.1", false, ""},
		{"unsorted events are sorted first", debian([]Range{eco(Event{Fixed: "2.0"}, Event{Introduced: "1.0"}, Event{Fixed: "4.0"}, Event{Introduced: "3.0"})}), "3.5", true, "4.0"},
		{"a gap between two ranges in one is not affected", debian([]Range{eco(Event{Fixed: "2.0"}, Event{Introduced: "1.0"}, Event{Fixed: "4.0"}, Event{Introduced: "3.0"})}), "2.5", false, ""},
		{"of two ranges the lowest containing fix is reported", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "3.0"}), eco(Event{Introduced: "1.0"}, Event{Fixed: "2.0"})}), "1.5", true, "2.0"},
		{"a limit bounds the range", debian([]Range{eco(Event{Introduced: "0"}, Event{Limit: "2.0"})}), "2.0", false, ""},
		{"introduced and fixed at the same version affect nothing", debian([]Range{eco(Event{Introduced: "1.0"}, Event{Fixed: "1.0"})}), "1.0", false, ""},
		{"an explicitly listed version is affected", debian(nil, "1.2-3"), "1.2-3", true, ""},
		{"an explicitly listed version matches by ordering, not spelling", debian(nil, "0:1.2-3"), "1.2-3", true, ""},
		{"an unlisted version is not affected", debian(nil, "1.2-3"), "1.2-4", false, ""},
		{"a listed version outside the ranges is still affected", debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "1.0"})}, "1.5"), "1.5", true, ""},
		{"GIT ranges are ignored", debian([]Range{{Type: RangeGit, Events: []Event{{Introduced: "abc"}, {Fixed: "def"}}}}), "1.0", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fixed, err := tt.affected.IsAffected(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || fixed != tt.fixed {
				t.Errorf("IsAffected(%q) = %v, %q; want %v, %q", tt.v, got, fixed, tt.want, tt.fixed)
			}
		})
	}
}

func TestIsAffectedRejectsAnInvalidVersion(t *testing.T) {
	a := debian([]Range{eco(Event{Introduced: "0"}, Event{Fixed: "2.0"})})
	_, _, err := a.IsAffected("not a version")
	if err == nil || !strings.Contains(err.Error(), `"not a version"`) {
		t.Fatalf("err = %v, want one naming the version", err)
	}
}

func TestAffects(t *testing.T) {
	jammy, _ := ParseEcosystem("Ubuntu:22.04")
	noble, _ := ParseEcosystem("Ubuntu:24.04:LTS")
	adv := parseFile(t, "testdata/osv/ubuntu/USN-7768-1.json")
	withdrawn := adv
	when := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)
	withdrawn.Withdrawn = &when

	tests := []struct {
		name    string
		adv     Advisory
		distro  Distro
		pkg, v  string
		want    bool
		wantFix string
	}{
		{"jammy without LTS matches the LTS entry", adv, jammy, "dpkg", "1.21.1ubuntu2.3", true, "1.21.1ubuntu2.6"},
		{"the fixed jammy version is not affected", adv, jammy, "dpkg", "1.21.1ubuntu2.6", false, ""},
		{"noble has its own fix", adv, noble, "dpkg", "1.22.6ubuntu6.2", true, "1.22.6ubuntu6.5"},
		{"a binary name is not the source package", adv, jammy, "dselect", "1.21.1ubuntu2.3", false, ""},
		{"a withdrawn advisory affects nothing", withdrawn, jammy, "dpkg", "1.21.1ubuntu2.3", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fixed, err := tt.adv.Affects(tt.distro, tt.pkg, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || fixed != tt.wantFix {
				t.Errorf("Affects = %v, %q; want %v, %q", got, fixed, tt.want, tt.wantFix)
			}
		})
	}
}

func TestIsAffectedWithRPMAndApk(t *testing.T) {
	alma, _ := ParseEcosystem("AlmaLinux:8")
	alpine, _ := ParseEcosystem("Alpine:v3.11")
	rpm := Affected{Distro: alma, Package: "openssl", Ranges: []Range{eco(Event{Introduced: "0"}, Event{Fixed: "1:1.1.1k-12.el8_9"})}}
	apk := Affected{Distro: alpine, Package: "curl", Ranges: []Range{eco(Event{Introduced: "0"}, Event{Fixed: "7.66.0-r0"})}}
	tests := []struct {
		a    Affected
		v    string
		want bool
	}{
		{rpm, "1:1.1.1k-9.el8_7", true},
		{rpm, "1:1.1.1k-12.el8_9", false},
		{rpm, "1.1.1k-14.el8", true}, // no epoch is epoch 0
		{apk, "7.65.3-r0", true},
		{apk, "7.66.0-r0", false},
		{apk, "7.66.0_rc1-r0", true},
	}
	for _, tt := range tests {
		got, _, err := tt.a.IsAffected(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s %s IsAffected(%q) = %v, want %v", tt.a.Distro.Format, tt.a.Package, tt.v, got, tt.want)
		}
	}
	if rpm.Distro.Format != version.RPM || apk.Distro.Format != version.Apk {
		t.Fatal("wrong formats")
	}
}
