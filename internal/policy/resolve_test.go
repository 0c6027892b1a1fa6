package policy

import (
	"slices"
	"testing"
)

func TestEffectiveResolvesHostsInZeroOneOrTwoGroups(t *testing.T) {
	o := loadExample(t)
	tests := []struct {
		name string
		host HostInfo
		want Effective
	}{
		{
			name: "a host no group selects gets defaults, no ring and no reboot",
			host: HostInfo{ID: "h0", Hostname: "lonely", Labels: map[string]string{"env": "dev"}},
			want: Effective{Reboot: RebootNever, Policy: DefaultPolicy()},
		},
		{
			name: "a host in one labelled group takes that group",
			host: HostInfo{ID: "h1", Hostname: "db-1", Labels: map[string]string{"env": "prod", "app": "payments", "role": "primary"}},
			want: Effective{
				Team: "payments", Teams: []string{"payments"}, Groups: []string{"payments-prod"},
				Criticality: 5, Exposure: ExposureInternet, Ring: "production", Reboot: RebootIfRequired,
				Stakeholders: []string{"carol"}, Sysadmins: []string{"alice"},
			},
		},
		{
			name: "a host listed statically by hostname is in the static group",
			host: HostInfo{ID: "uuid-7", Hostname: "canary-2"},
			want: Effective{
				Team: "platform", Teams: []string{"platform"}, Groups: []string{"canary"},
				Criticality: 1, Exposure: ExposureInternal, Ring: "test", Reboot: RebootAlways,
				Stakeholders: []string{"dave"}, Sysadmins: []string{"dave"},
			},
		},
		{
			name: "a host in two groups takes the latest ring, most caution and all owners",
			host: HostInfo{ID: "h2", Hostname: "web-1", Labels: map[string]string{"env": "prod", "app": "payments", "role": "web"}},
			want: Effective{
				Team: "payments", Teams: []string{"payments", "platform"}, Groups: []string{"payments-prod", "public-web"},
				Criticality: 5, Exposure: ExposureInternet, Ring: "production", Reboot: RebootNever,
				Stakeholders: []string{"carol", "dave"}, Sysadmins: []string{"alice", "erin"},
			},
		},
		{
			name: "a host in two groups is internet-facing if either says so",
			host: HostInfo{ID: "canary-1", Labels: map[string]string{"role": "web"}},
			want: Effective{
				Team: "platform", Teams: []string{"platform"}, Groups: []string{"canary", "public-web"},
				Criticality: 4, Exposure: ExposureInternet, Ring: "pilot", Reboot: RebootNever,
				Stakeholders: []string{"dave"}, Sysadmins: []string{"dave", "erin"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := o.Effective(tt.host)
			if got.Team != tt.want.Team || !slices.Equal(got.Teams, tt.want.Teams) || !slices.Equal(got.Groups, tt.want.Groups) ||
				got.Criticality != tt.want.Criticality || got.Exposure != tt.want.Exposure || got.Ring != tt.want.Ring ||
				got.Reboot != tt.want.Reboot || !slices.Equal(got.Stakeholders, tt.want.Stakeholders) || !slices.Equal(got.Sysadmins, tt.want.Sysadmins) {
				t.Errorf("Effective =\n%+v\nwant\n%+v", got, tt.want)
			}
			var names []string
			for _, g := range o.GroupsOf(tt.host) {
				names = append(names, g.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want.Groups) {
				t.Errorf("GroupsOf = %v, want %v", names, tt.want.Groups)
			}
			if len(got.Windows) != len(tt.want.Groups) { // one window per example group
				t.Errorf("Windows = %v; want one per group", got.Windows)
			}
		})
	}
}

func TestEffectivePolicyMergesTeamGroupAndStrictest(t *testing.T) {
	o := loadExample(t)

	// payments-prod: team SLAs, critical overridden to 7; team rule and hold.
	prod, _ := o.GroupPolicy("payments-prod")
	for sev, want := range map[string]int{"critical": 7, "high": 30, "medium": 90, "low": 180} {
		if got := prod.SLADays(sev); got != want {
			t.Errorf("payments-prod SLADays(%s) = %d, want %d", sev, got, want)
		}
	}
	if prod.KEV != KEVCISADueDate || len(prod.AutoApproveRules) != 1 || len(prod.Holds) != 1 {
		t.Errorf("payments-prod policy = %+v", prod)
	}

	// public-web: platform team (no SLA: defaults), critical 3 and high 14;
	// auto_approve: [] switches the team's rules off; holds add up.
	web, _ := o.GroupPolicy("public-web")
	for sev, want := range map[string]int{"critical": 3, "high": 14, "medium": 90, "low": 180} {
		if got := web.SLADays(sev); got != want {
			t.Errorf("public-web SLADays(%s) = %d, want %d", sev, got, want)
		}
	}
	if web.KEV != "days:7" {
		t.Errorf("public-web KEV = %q; want the team's days:7", web.KEV)
	}
	if web.AutoApproveRules == nil || len(web.AutoApproveRules) != 0 {
		t.Errorf("public-web auto_approve = %#v; want none", web.AutoApproveRules)
	}
	if len(web.Holds) != 2 {
		t.Errorf("public-web holds = %+v; want the team's kernel hold and the group's nginx hold", web.Holds)
	}

	// canary: the platform team's policy, unchanged.
	canary, _ := o.GroupPolicy("canary")
	if len(canary.AutoApproveRules) != 2 || canary.SLADays("critical") != 15 {
		t.Errorf("canary policy = %+v", canary)
	}
	if _, ok := o.GroupPolicy("nope"); ok {
		t.Error("GroupPolicy(nope) found a group")
	}

	// A host in payments-prod and public-web: smallest SLA of each severity,
	// strictest KEV rule, no shared auto-approval rule, every hold.
	e := o.Effective(HostInfo{ID: "web-1", Labels: map[string]string{"env": "prod", "app": "payments", "role": "web"}})
	for sev, want := range map[string]int{"critical": 3, "high": 14, "medium": 90, "low": 180} {
		if got := e.Policy.SLADays(sev); got != want {
			t.Errorf("two groups: SLADays(%s) = %d, want %d", sev, got, want)
		}
	}
	if e.Policy.KEV != "days:7" {
		t.Errorf("two groups: KEV = %q, want days:7 (stricter than cisa_due_date)", e.Policy.KEV)
	}
	if len(e.Policy.AutoApproveRules) != 0 {
		t.Errorf("two groups: auto-approve = %+v; want none in common", e.Policy.AutoApproveRules)
	}
	if len(e.Policy.Holds) != 3 {
		t.Errorf("two groups: holds = %+v; want openssl, linux-image-*, nginx", e.Policy.Holds)
	}

	// canary + public-web share a team: canary's rules versus none: none.
	e = o.Effective(HostInfo{ID: "canary-1", Labels: map[string]string{"role": "web"}})
	if len(e.Policy.AutoApproveRules) != 0 {
		t.Errorf("canary+public-web auto-approve = %+v; want none", e.Policy.AutoApproveRules)
	}
}

func TestStrictestKeepsOnlySharedRules(t *testing.T) {
	a := AutoApproveRule{Name: "a", MaxRing: "test"}
	b := AutoApproveRule{Name: "b", SecurityOnly: true}
	got := strictest([]Policy{
		{AutoApproveRules: []AutoApproveRule{a, b}, KEV: KEVSLA},
		{AutoApproveRules: []AutoApproveRule{b}, KEV: KEVCISADueDate},
	})
	if len(got.AutoApproveRules) != 1 || got.AutoApproveRules[0] != b {
		t.Errorf("rules = %+v; want only b", got.AutoApproveRules)
	}
	if got.KEV != KEVCISADueDate {
		t.Errorf("KEV = %q; want cisa_due_date over sla", got.KEV)
	}
	if got := strictest([]Policy{{KEV: "days:10"}, {KEV: "days:5"}, {KEV: KEVCISADueDate}}); got.KEV != "days:5" {
		t.Errorf("KEV = %q; want days:5", got.KEV)
	}
}

func TestMatchesNothingListsEmptyGroups(t *testing.T) {
	o := loadExample(t)
	hosts := []HostInfo{
		{ID: "h1", Labels: map[string]string{"env": "prod", "app": "payments"}},
		{ID: "h2", Hostname: "canary-1"},
	}
	got := o.MatchesNothing(hosts)
	if want := []string{"payments-staging", "public-web"}; !slices.Equal(got, want) {
		t.Errorf("MatchesNothing = %v, want %v", got, want)
	}
	if got := o.MatchesNothing(nil); len(got) != 4 {
		t.Errorf("MatchesNothing(no hosts) = %v; want all 4 groups", got)
	}
}

func TestTierOfFollowsTheRebootOrder(t *testing.T) {
	o := loadExample(t)
	g := &o.Groups[1]
	for _, tt := range []struct {
		role, tier string
		pos        int
	}{{"replica", "replicas", 0}, {"primary", "primary", 1}, {"web", "", 2}} {
		tier, pos := g.TierOf(HostInfo{Labels: map[string]string{"role": tt.role}})
		if tier != tt.tier || pos != tt.pos {
			t.Errorf("TierOf(role=%s) = %q, %d; want %q, %d", tt.role, tier, pos, tt.tier, tt.pos)
		}
	}
}

func TestTheMostCautiousRebootPolicyOfAHostsGroupsApplies(t *testing.T) {
	tests := []struct {
		a, b, want string
	}{
		{RebootRestartServices, RebootAlways, RebootRestartServices},
		{RebootRestartServices, RebootIfRequired, RebootIfRequired},
		{RebootRestartServices, "", RebootIfRequired},
		{RebootRestartServices, RebootNever, RebootNever},
		{RebootRestartServices, RebootRestartServices, RebootRestartServices},
	}
	for _, tt := range tests {
		o := &Org{Rings: []string{"production"}, Groups: []Group{
			{Name: "a", Selector: Selector{Hosts: []string{"h"}}, Ring: "production", Reboot: tt.a},
			{Name: "b", Selector: Selector{Hosts: []string{"h"}}, Ring: "production", Reboot: tt.b},
		}}
		if got := o.Effective(HostInfo{Hostname: "h"}).Reboot; got != tt.want {
			t.Errorf("groups %q and %q: %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}
