package policy

import (
	"strings"
	"testing"
	"time"
)

func TestEnforcementParsesFromYAML(t *testing.T) {
	o, err := Parse([]byte(`
groups:
  - name: web
    enforcement: {severity: high, kev: true, grace: 3d, action: quarantine, hook: isolate}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := o.Groups[0].Enforcement
	want := Enforcement{Severity: "high", KEV: true, Grace: "3d", Action: "quarantine", Hook: "isolate"}
	if got == nil || *got != want {
		t.Fatalf("enforcement = %+v, want %+v", got, want)
	}
	if _, err := Parse([]byte("groups:\n  - name: web\n    enforcement: {action: report, when: now}\n")); err == nil || !strings.Contains(err.Error(), "when") {
		t.Fatalf("an unknown enforcement field: err = %v, want it named", err)
	}
}

func TestValidateEnforcementByPath(t *testing.T) {
	tests := []struct {
		name string
		e    Enforcement
		want string // "" when valid
	}{
		{"report on critical", Enforcement{Severity: "critical", Action: "report"}, ""},
		{"notify on KEV with grace in hours", Enforcement{KEV: true, Grace: "12h", Action: "notify"}, ""},
		{"quarantine with a hook", Enforcement{Severity: "high", KEV: true, Grace: "3d", Action: "quarantine", Hook: "isolate-net"}, ""},
		{"counts nothing", Enforcement{Action: "report"}, `groups[0].enforcement: the rule counts nothing`},
		{"unknown severity", Enforcement{Severity: "urgent", Action: "report"}, `groups[0].enforcement.severity: "urgent" is not a severity`},
		{"bad grace", Enforcement{Severity: "high", Grace: "3 days", Action: "report"}, `groups[0].enforcement.grace: "3 days": whole days (3d) or a duration (12h)`},
		{"negative grace", Enforcement{Severity: "high", Grace: "-2h", Action: "report"}, `groups[0].enforcement.grace: "-2h": a grace period cannot be negative`},
		{"no action", Enforcement{Severity: "high"}, `groups[0].enforcement.action: action is required (report, notify, quarantine)`},
		{"unknown action", Enforcement{Severity: "high", Action: "block"}, `groups[0].enforcement.action: "block" is not an action (report, notify, quarantine)`},
		{"quarantine without a hook", Enforcement{Severity: "high", Action: "quarantine"}, `groups[0].enforcement.hook: action quarantine needs the name of the quarantine hook`},
		{"a hook name that is a command", Enforcement{Severity: "high", Action: "quarantine", Hook: "iptables -P DROP"}, `groups[0].enforcement.hook: hook name "iptables -P DROP" must match`},
		{"a hook on report", Enforcement{Severity: "high", Action: "report", Hook: "isolate"}, `groups[0].enforcement.hook: only action quarantine runs a hook; action is "report"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := loadExample(t)
			e := tt.e
			o.Groups[0].Enforcement = &e
			err := o.Validate(exampleHooks())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v\nwant a problem containing %q", err, tt.want)
			}
		})
	}
}

func TestEnforcementCounts(t *testing.T) {
	due := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rule := Enforcement{Severity: "high", KEV: true, Grace: "3d", Action: "quarantine", Hook: "isolate"}
	tests := []struct {
		name string
		f    EnforcedFinding
		now  time.Time
		want bool
	}{
		{"high, past due plus grace", EnforcedFinding{Severity: "high", Due: due, Open: true}, due.Add(73 * time.Hour), true},
		{"critical counts under a high rule", EnforcedFinding{Severity: "critical", Due: due, Open: true}, due.Add(73 * time.Hour), true},
		{"Red Hat's important is high", EnforcedFinding{Severity: "Important", Due: due, Open: true}, due.Add(73 * time.Hour), true},
		{"high, within the grace", EnforcedFinding{Severity: "high", Due: due, Open: true}, due.Add(71 * time.Hour), false},
		{"high, exactly at the end of the grace", EnforcedFinding{Severity: "high", Due: due, Open: true}, due.Add(72 * time.Hour), false},
		{"medium, long overdue", EnforcedFinding{Severity: "medium", Due: due, Open: true}, due.AddDate(1, 0, 0), false},
		{"low but KEV", EnforcedFinding{Severity: "low", KEV: true, Due: due, Open: true}, due.Add(73 * time.Hour), true},
		{"excepted", EnforcedFinding{Severity: "critical", Due: due, Open: true, Excepted: true}, due.AddDate(1, 0, 0), false},
		{"fixed", EnforcedFinding{Severity: "critical", Due: due}, due.AddDate(1, 0, 0), false},
		{"no due date", EnforcedFinding{Severity: "critical", Open: true}, due.AddDate(1, 0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rule.Counts(tt.f, tt.now); got != tt.want {
				t.Fatalf("Counts = %v, want %v", got, tt.want)
			}
		})
	}
	kevOnly := Enforcement{KEV: true, Action: "notify"}
	if kevOnly.Counts(EnforcedFinding{Severity: "critical", Due: due, Open: true}, due.Add(time.Hour)) {
		t.Fatal("a KEV-only rule counted a critical finding not in KEV")
	}
	host := []EnforcedFinding{
		{Severity: "critical", Due: due, Open: true, Excepted: true},
		{Severity: "medium", Due: due, Open: true},
	}
	if rule.NonCompliant(host, due.AddDate(0, 1, 0)) {
		t.Fatal("a host whose only counted finding is excepted is non-compliant")
	}
	host = append(host, EnforcedFinding{Severity: "high", Due: due.AddDate(0, 0, 10), Open: true})
	if !rule.NonCompliant(host, due.AddDate(0, 1, 0)) {
		t.Fatal("a host with a high finding 18 days past due plus grace is compliant")
	}
}

func TestDecideQuarantine(t *testing.T) {
	quarantine := &Enforcement{Severity: "high", Action: "quarantine", Hook: "isolate"}
	notify := &Enforcement{Severity: "high", Action: "notify"}
	tests := []struct {
		name                              string
		e                                 *Enforcement
		nonCompliant, quarantined, frozen bool
		want                              QuarantineStep
	}{
		{"non-compliant: quarantine", quarantine, true, false, false, StepQuarantine},
		{"already quarantined: nothing again", quarantine, true, true, false, StepNone},
		{"in a freeze: never", quarantine, true, false, true, StepNone},
		{"compliant again: release", quarantine, false, true, false, StepRelease},
		{"compliant again in a freeze: release", quarantine, false, true, true, StepRelease},
		{"compliant and free: nothing", quarantine, false, false, false, StepNone},
		{"action notify: never quarantined", notify, true, false, false, StepNone},
		{"action changed to notify: release", notify, true, true, false, StepRelease},
		{"rule removed: release", nil, true, true, false, StepRelease},
		{"no rule: nothing", nil, true, false, false, StepNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecideQuarantine(tt.e, tt.nonCompliant, tt.quarantined, tt.frozen); got != tt.want {
				t.Fatalf("DecideQuarantine = %v, want %v", got, tt.want)
			}
		})
	}
}
