package policy

import (
	"testing"
	"time"
)

func TestSLADays(t *testing.T) {
	p := Policy{SLA: map[string]int{"critical": 7, "high": 20}}
	tests := []struct {
		sev  string
		want int
	}{
		{"critical", 7},
		{"CRITICAL", 7},
		{"high", 20},
		{"important", 20}, // Red Hat's word for high
		{"medium", 90},    // not set: the default
		{"moderate", 90},
		{"low", 180},
		{"", 90},        // unknown severity is treated as medium, as in risk
		{"unknown", 90}, // likewise
	}
	for _, tt := range tests {
		if got := p.SLADays(tt.sev); got != tt.want {
			t.Errorf("SLADays(%q) = %d, want %d", tt.sev, got, tt.want)
		}
	}
}

func TestKEVRule(t *testing.T) {
	tests := []struct {
		rule    string
		useCISA bool
		days    int
	}{
		{"", true, 0},
		{KEVCISADueDate, true, 0},
		{KEVSLA, false, 0},
		{"days:7", true, 7},
	}
	for _, tt := range tests {
		use, days := Policy{KEV: tt.rule}.KEVRule()
		if use != tt.useCISA || days != tt.days {
			t.Errorf("KEVRule(%q) = %v, %d; want %v, %d", tt.rule, use, days, tt.useCISA, tt.days)
		}
	}
}

func TestHeld(t *testing.T) {
	o := loadExample(t)
	web, _ := o.GroupPolicy("public-web")
	day := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		pkg    string
		now    time.Time
		held   bool
		reason string
	}{
		{"a pattern hold covers a matching package", "linux-image-6.8.0-45-generic", day(2027, 1, 1, 0), true, "kernel pinned until the fleet-wide reboot"},
		{"a hold holds through its last day", "linux-image-generic", day(2027, 3, 31, 23), true, "kernel pinned until the fleet-wide reboot"},
		{"a hold ends the day after", "linux-image-generic", day(2027, 4, 1, 0), false, ""},
		{"a hold without date holds forever", "nginx", day(2099, 1, 1, 0), true, "config migration pending"},
		{"an unheld package is not held", "curl", day(2027, 1, 1, 0), false, ""},
		{"a pattern does not match a different package", "linux-headers-6.8", day(2027, 1, 1, 0), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ok := web.Held(tt.pkg, tt.now)
			if ok != tt.held || h.Reason != tt.reason {
				t.Errorf("Held(%q, %s) = %+v, %v; want held=%v reason %q", tt.pkg, tt.now, h, ok, tt.held, tt.reason)
			}
		})
	}

	// Two holds of one package: the one lasting longest wins.
	p := Policy{Holds: []Hold{
		{Package: "openssl", Reason: "short", Until: day(2026, 1, 10, 0)},
		{Package: "openssl", Reason: "long", Until: day(2026, 6, 1, 0)},
		{Package: "openssl", Reason: "expired", Until: day(2025, 1, 1, 0)},
	}}
	if h, ok := p.Held("openssl", day(2026, 1, 5, 0)); !ok || h.Reason != "long" {
		t.Errorf("Held = %+v, %v; want the long hold", h, ok)
	}
	if h, ok := p.Held("openssl", day(2026, 3, 1, 12)); !ok || h.Reason != "long" {
		t.Errorf("after the short hold: Held = %+v, %v; want the long hold", h, ok)
	}
	// An exact-time Until ends at that instant.
	exact := Hold{Package: "x", Reason: "r", Until: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	if !exact.ActiveAt(exact.Until.Add(-time.Second)) || exact.ActiveAt(exact.Until) {
		t.Error("a hold until 12:00 must hold at 11:59:59 and not at 12:00")
	}
}

func TestAutoApprove(t *testing.T) {
	rings := []string{"test", "pilot", "production"}
	o := loadExample(t)
	pay := o.Teams[0].Policy      // sec-high-test: security, ≥ high, ≥ 3 days, ≤ pilot
	platform := o.Teams[1].Policy // anything-in-test; sec-critical-pilot
	tests := []struct {
		name   string
		policy Policy
		c      ChangeFacts
		rule   string
	}{
		{"a high security fix, 3 days old, in pilot is approved", pay, ChangeFacts{Severity: "high", SecurityOnly: true, AgeDays: 3, Ring: "pilot"}, "sec-high-test"},
		{"a critical fix counts as at least high", pay, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 10, Ring: "test"}, "sec-high-test"},
		{"too young is not approved", pay, ChangeFacts{Severity: "high", SecurityOnly: true, AgeDays: 2, Ring: "pilot"}, ""},
		{"a medium fix is not approved", pay, ChangeFacts{Severity: "medium", SecurityOnly: true, AgeDays: 30, Ring: "test"}, ""},
		{"a change with non-security updates is not approved", pay, ChangeFacts{Severity: "high", SecurityOnly: false, AgeDays: 30, Ring: "test"}, ""},
		{"production is past the rule's max ring", pay, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 30, Ring: "production"}, ""},
		{"an unknown ring is not approved", pay, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 30, Ring: "beta"}, ""},
		{"the first matching rule wins", platform, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 5, Ring: "test"}, "anything-in-test"},
		{"a later rule matches when the first does not", platform, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 1, Ring: "pilot"}, "sec-critical-pilot"},
		{"a rule without severity approves a change without severity", platform, ChangeFacts{AgeDays: 0, Ring: "test"}, "anything-in-test"},
		{"no rules approve nothing", Policy{}, ChangeFacts{Severity: "critical", SecurityOnly: true, AgeDays: 99, Ring: "test"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, ok := tt.policy.AutoApprove(tt.c, rings)
			if rule != tt.rule || ok != (tt.rule != "") {
				t.Errorf("AutoApprove(%+v) = %q, %v; want %q", tt.c, rule, ok, tt.rule)
			}
		})
	}
}
