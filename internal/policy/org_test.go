package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

func loadExample(t testing.TB) *Org {
	t.Helper()
	data, err := os.ReadFile("testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(testdata/org.yaml): %v", err)
	}
	return o
}

var knownUsers = map[string]bool{"alice": true, "bob": true, "carol": true, "dave": true, "erin": true, "frank": true}

func exampleHooks() Hooks {
	return Hooks{KnownUser: func(u string) bool { return knownUsers[u] }}
}

func TestParseReadsTheExample(t *testing.T) {
	o := loadExample(t)
	if err := o.Validate(exampleHooks()); err != nil {
		t.Fatalf("example is invalid: %v", err)
	}
	if len(o.Teams) != 2 || len(o.Groups) != 4 || len(o.Freezes) != 2 {
		t.Fatalf("got %d teams, %d groups, %d freezes; want 2, 4, 2", len(o.Teams), len(o.Groups), len(o.Freezes))
	}
	if got := strings.Join(o.Rings, ","); got != "test,pilot,production" {
		t.Errorf("rings = %s", got)
	}
	pay := o.Teams[0]
	if pay.Name != "payments" || len(pay.Members) != 3 || pay.Members[1] != (Member{User: "bob", Role: RoleApprover}) {
		t.Errorf("payments team = %+v", pay)
	}
	if pay.Policy.SLA[SeverityCritical] != 15 || pay.Policy.KEV != KEVCISADueDate {
		t.Errorf("payments policy = %+v", pay.Policy)
	}
	wantRule := AutoApproveRule{Name: "sec-high-test", SecurityOnly: true, MinSeverity: "high", MinAgeDays: 3, MaxRing: "pilot"}
	if len(pay.Policy.AutoApproveRules) != 1 || pay.Policy.AutoApproveRules[0] != wantRule {
		t.Errorf("auto_approve = %+v, want [%+v]", pay.Policy.AutoApproveRules, wantRule)
	}
	hold := pay.Policy.Holds[0]
	if hold.Package != "openssl" || !hold.Until.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("hold = %+v", hold)
	}
	prod := o.Groups[1]
	if prod.Name != "payments-prod" || prod.Selector.Labels["env"] != "prod" || prod.Criticality != 5 || prod.Ring != "production" {
		t.Errorf("payments-prod = %+v", prod)
	}
	w := prod.Windows[0]
	wantW := WindowSpec{Name: "patch-tuesday", RRule: "FREQ=MONTHLY;BYDAY=2TU", Start: "22:00", Duration: 4 * time.Hour, TZ: "Europe/Berlin", OffsetDays: 3, MaxRandomDelay: 30 * time.Minute}
	if w != wantW {
		t.Errorf("window = %+v, want %+v", w, wantW)
	}
	if len(prod.RebootOrder) != 2 || prod.RebootOrder[0].Tier != "replicas" {
		t.Errorf("reboot_order = %+v", prod.RebootOrder)
	}
	if web := o.Groups[3]; web.Policy.AutoApproveRules == nil || len(web.Policy.AutoApproveRules) != 0 {
		t.Errorf("public-web auto_approve = %#v, want an empty, non-nil list", web.Policy.AutoApproveRules)
	}
	if f := o.Freezes[1]; f.Scope != ScopeGlobal || !f.End.Equal(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("freeze = %+v", f)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"an unknown top-level field, naming it and its line", "rings: [a]\nringz: [b]\n", []string{"line 2", "ringz"}},
		{"an unknown field deep in a group", "groups:\n  - name: g\n    team: t\n    selektor: {hosts: [a]}\n", []string{"line 4", "selektor"}},
		{"an unknown field in a policy", "teams:\n  - name: t\n    policy:\n      sla: {high: 3}\n", []string{"line 4", "sla"}},
		{"a wrong type", "groups:\n  - name: g\n    criticality: high\n", []string{"line 3", "high"}},
		{"a bad duration", "groups:\n  - name: g\n    windows: [{name: w, duration: forever}]\n", []string{"line 3", "forever"}},
		{"an empty file", "", []string{"empty"}},
		{"two documents", "rings: [a]\n---\nrings: [b]\n", []string{"line 3", "second YAML document"}},
		{"invalid YAML", "teams: [\n", []string{"parse policy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesEveryProblemByPath(t *testing.T) {
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		mutate func(o *Org)
		want   string // "path: message" substring
	}{
		{"a group in an undefined ring", func(o *Org) { o.Groups[1].Ring = "prod" }, `groups[1].ring: "prod" is not a ring (test, pilot, production)`},
		{"a group with no ring", func(o *Org) { o.Groups[1].Ring = "" }, `groups[1].ring: ring is required`},
		{"a duplicate ring", func(o *Org) { o.Rings = append(o.Rings, "pilot") }, `rings[3]: duplicate ring "pilot" (first at rings[1])`},
		{"a duplicate team", func(o *Org) { o.Teams[1].Name = "payments" }, `teams[1].name: duplicate team "payments" (first at teams[0].name)`},
		{"a duplicate group", func(o *Org) { o.Groups[2].Name = "payments-prod" }, `groups[2].name: duplicate group "payments-prod"`},
		{"a duplicate freeze", func(o *Org) { o.Freezes[1].Name = "black-friday" }, `freezes[1].name: duplicate freeze "black-friday"`},
		{"a bad team name", func(o *Org) { o.Teams[0].Name = "Pay Ments" }, `teams[0].name: "Pay Ments" is not a valid team name`},
		{"a missing group name", func(o *Org) { o.Groups[0].Name = "" }, `groups[0].name: group name is required`},
		{"a group of an unknown team", func(o *Org) { o.Groups[0].Team = "marketing" }, `groups[0].team: unknown team "marketing"`},
		{"an unknown member", func(o *Org) { o.Teams[0].Members[0].User = "mallory" }, `teams[0].members[0].user: unknown user "mallory"`},
		{"a member twice", func(o *Org) { o.Teams[0].Members[1].User = "alice" }, `teams[0].members[1].user: duplicate member "alice"`},
		{"an unknown role", func(o *Org) { o.Teams[0].Members[0].Role = "boss" }, `teams[0].members[0].role: "boss" is not a role (admin, security, operator, approver, stakeholder, auditor)`},
		{"an unknown stakeholder", func(o *Org) { o.Groups[1].Stakeholder = "mallory" }, `groups[1].stakeholder: unknown user "mallory"`},
		{"no sysadmin", func(o *Org) { o.Groups[1].Sysadmin = "" }, `groups[1].sysadmin: user is required`},
		{"criticality 0", func(o *Org) { o.Groups[0].Criticality = 0 }, `groups[0].criticality: 0 is out of range (1 to 5)`},
		{"criticality 6", func(o *Org) { o.Groups[0].Criticality = 6 }, `groups[0].criticality: 6 is out of range (1 to 5)`},
		{"an unknown exposure", func(o *Org) { o.Groups[0].Exposure = "dmz" }, `groups[0].exposure: "dmz" is not an exposure (internet, internal)`},
		{"an unknown reboot policy", func(o *Org) { o.Groups[0].Reboot = "sometimes" }, `groups[0].reboot: "sometimes" is not a reboot policy`},
		{"a selector with labels and hosts", func(o *Org) { o.Groups[0].Selector.Labels = map[string]string{"a": "b"} }, `groups[0].selector: set either labels or hosts, not both`},
		{"an empty selector", func(o *Org) { o.Groups[0].Selector = Selector{} }, `groups[0].selector: selector is empty`},
		{"an empty host", func(o *Org) { o.Groups[0].Selector.Hosts[1] = " " }, `groups[0].selector.hosts[1]: host is empty`},
		{"a host twice", func(o *Org) { o.Groups[0].Selector.Hosts[1] = "canary-1" }, `groups[0].selector.hosts[1]: duplicate host "canary-1"`},
		{"an empty label key", func(o *Org) { o.Groups[1].Selector.Labels[""] = "x" }, `groups[1].selector.labels: a label key is empty`},
		{"a reboot tier without labels", func(o *Org) { o.Groups[1].RebootOrder[1].Labels = nil }, `groups[1].reboot_order[1].labels: labels are required`},
		{"a reboot tier twice", func(o *Org) { o.Groups[1].RebootOrder[1].Tier = "replicas" }, `groups[1].reboot_order[1].tier: duplicate tier "replicas"`},
		{"a window without rrule", func(o *Org) { o.Groups[1].Windows[0].RRule = "" }, `groups[1].windows[0].rrule: rrule is required`},
		{"a window at 25:00", func(o *Org) { o.Groups[1].Windows[0].Start = "25:00" }, `groups[1].windows[0].start: "25:00" is not a time of day`},
		{"a window of no length", func(o *Org) { o.Groups[1].Windows[0].Duration = 0 }, `groups[1].windows[0].duration: duration must be positive`},
		{"a window without zone", func(o *Org) { o.Groups[1].Windows[0].TZ = "" }, `groups[1].windows[0].tz: tz is required`},
		{"a random delay as long as the window", func(o *Org) { o.Groups[1].Windows[0].MaxRandomDelay = 4 * time.Hour }, `groups[1].windows[0].max_random_delay: 4h0m0s leaves no time in a 4h0m0s window`},
		{"an offset past a month", func(o *Org) { o.Groups[1].Windows[0].OffsetDays = 40 }, `groups[1].windows[0].offset_days: 40 is out of range`},
		{"two windows of one name", func(o *Org) {
			o.Groups[1].Windows = append(o.Groups[1].Windows, o.Groups[1].Windows[0])
		}, `groups[1].windows[1].name: duplicate window "patch-tuesday"`},
		{"SLA of 0 days", func(o *Org) { o.Groups[1].Policy.SLA["critical"] = 0 }, `groups[1].policy.sla_days.critical: 0 days; must be more than 0`},
		{"SLA for an unknown severity", func(o *Org) { o.Teams[0].Policy.SLA["urgent"] = 1 }, `teams[0].policy.sla_days.urgent: "urgent" is not a severity`},
		{"an unknown KEV rule", func(o *Org) { o.Teams[0].Policy.KEV = "asap" }, `teams[0].policy.kev: "asap" is not a KEV rule (cisa_due_date, sla, days:N)`},
		{"KEV days:0", func(o *Org) { o.Teams[0].Policy.KEV = "days:0" }, `teams[0].policy.kev: "days:0": days must be a whole number more than 0`},
		{"a negative rule age", func(o *Org) { o.Teams[0].Policy.AutoApproveRules[0].MinAgeDays = -1 }, `teams[0].policy.auto_approve[0].min_age_days: -1; must be 0 or more`},
		{"a rule for an unknown ring", func(o *Org) { o.Teams[0].Policy.AutoApproveRules[0].MaxRing = "beta" }, `teams[0].policy.auto_approve[0].max_ring: "beta" is not a ring`},
		{"a rule with an unknown severity", func(o *Org) { o.Teams[0].Policy.AutoApproveRules[0].MinSeverity = "severe" }, `teams[0].policy.auto_approve[0].min_severity: "severe" is not a severity`},
		{"a rule without name", func(o *Org) { o.Teams[0].Policy.AutoApproveRules[0].Name = "" }, `teams[0].policy.auto_approve[0].name: rule name is required`},
		{"two rules of one name", func(o *Org) { o.Teams[1].Policy.AutoApproveRules[1].Name = "anything-in-test" }, `teams[1].policy.auto_approve[1].name: duplicate rule "anything-in-test"`},
		{"a hold without reason", func(o *Org) { o.Teams[0].Policy.Holds[0].Reason = "" }, `teams[0].policy.holds[0].reason: reason is required`},
		{"a hold without package", func(o *Org) { o.Teams[0].Policy.Holds[0].Package = "" }, `teams[0].policy.holds[0].package: package is required`},
		{"a hold with a broken pattern", func(o *Org) { o.Teams[0].Policy.Holds[0].Package = "lib[" }, `teams[0].policy.holds[0].package: "lib[" is not a valid pattern`},
		{"a freeze ending before it starts", func(o *Org) { o.Freezes[0].End = o.Freezes[0].Start.Add(-time.Hour) }, `freezes[0].end: end 2026-11-24T23:00:00Z is not after start 2026-11-25T00:00:00Z`},
		{"a freeze without start", func(o *Org) { o.Freezes[0].Start = time.Time{} }, `freezes[0].start: start is required`},
		{"a freeze of an unknown team", func(o *Org) { o.Freezes[0].Scope = "team:ops" }, `freezes[0].scope: unknown team "ops"`},
		{"a freeze of an unknown scope", func(o *Org) { o.Freezes[0].Scope = "world" }, `freezes[0].scope: "world" is not a scope (global or team:NAME)`},
		// Not problems: an expired hold is just expired.
		{"a hold that has expired", func(o *Org) { o.Teams[0].Policy.Holds[0].Until = past }, ""},
		{"a group without reboot (if-required)", func(o *Org) { o.Groups[1].Reboot = "" }, ""},
		{"a rule of age 0", func(o *Org) { o.Teams[0].Policy.AutoApproveRules[0].MinAgeDays = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := loadExample(t)
			tt.mutate(o)
			err := o.Validate(exampleHooks())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v; want no error", err)
				}
				return
			}
			var ve *fielderr.List
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v; want a *fielderr.List", err)
			}
			for _, p := range ve.Problems {
				if strings.Contains(p.Error(), tt.want) {
					return
				}
			}
			t.Errorf("Validate problems:\n%v\nnone contains %q", err, tt.want)
		})
	}
}

func TestValidateReturnsAllProblemsAtOnce(t *testing.T) {
	o := loadExample(t)
	o.Groups[0].Ring = "prod"
	o.Groups[1].Criticality = 9
	o.Teams[0].Policy.KEV = "never"
	err := o.Validate(exampleHooks())
	var ve *fielderr.List
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("Validate = %v; want 3 problems", err)
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Path != "teams[0].policy.kev" {
		t.Errorf("errors.As *fielderr.Error = %+v; want the first problem, teams[0].policy.kev", fe)
	}
}

func TestValidateCallsTheHooks(t *testing.T) {
	o := loadExample(t)
	var seen []string
	h := exampleHooks()
	h.ValidateWindow = func(w WindowSpec) error {
		seen = append(seen, w.Name)
		if w.TZ == "America/New_York" {
			return errors.New(`unknown time zone "America/New_York"`)
		}
		return nil
	}
	err := o.Validate(h)
	if len(seen) != 4 {
		t.Errorf("ValidateWindow called for %v; want the 4 windows", seen)
	}
	if err == nil || !strings.Contains(err.Error(), `groups[3].windows[0]: unknown time zone "America/New_York"`) {
		t.Errorf("Validate = %v; want the hook's error at groups[3].windows[0]", err)
	}

	o = loadExample(t)
	o.Groups[0].Team = "ops"
	h = exampleHooks()
	h.KnownTeam = func(name string) bool { return name == "ops" }
	if err := o.Validate(h); err != nil {
		t.Errorf("a team the store knows: Validate = %v; want nil", err)
	}
	if err := o.Validate(Hooks{}); err == nil || !strings.Contains(err.Error(), `groups[0].team: unknown team "ops"`) {
		t.Errorf("without KnownTeam: Validate = %v; want unknown team", err)
	}
}
