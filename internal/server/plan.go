package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// PlanHost is one host of a change's target groups that has a package the
// change names, as the plan judged it: planned, or why not. The plan
// stores these with the rollout plan so that `changes plan` and the
// console show the approver what was decided and why, by hostname.
type PlanHost struct {
	HostID   string `json:"host_id"`
	Hostname string `json:"hostname"`
	Group    string `json:"group"`
	Ring     string `json:"ring"`
	Tier     string `json:"tier,omitempty"` // the group's reboot tier; "" is the rest
	// Status is "planned" (at least one target is dispatched), or the
	// reason none is: "excluded", "not-offered", "downgrade-refused".
	Status  string       `json:"status"`
	Reason  string       `json:"reason,omitempty"`
	Targets []PlanTarget `json:"targets,omitempty"`

	ring int // index in the plan's rings, for sorting
}

// PlanTarget is one package version a change asked for on one host.
type PlanTarget struct {
	Name      string `json:"name"`
	Arch      string `json:"arch,omitempty"`
	Installed string `json:"installed"`
	Version   string `json:"version"`           // planned, or asked for
	Offered   string `json:"offered,omitempty"` // what the host's repositories offer
	Advisory  string `json:"advisory,omitempty"`
	Status    string `json:"status"` // a change.Verdict
	Reason    string `json:"reason,omitempty"`
}

// builtPlan is a change's rollout plan with the review of every host
// considered. It is stored as one JSON object: the rollout plan's fields
// and "review", which readers of the rollout plan ignore.
type builtPlan struct {
	rollout.Plan
	Review []PlanHost `json:"review,omitempty"`
}

func (p builtPlan) json() []byte {
	b, _ := json.Marshal(p)
	return b
}

// planReview reads the review stored with a change's plan.
func planReview(planJSON []byte) []PlanHost {
	var p struct {
		Review []PlanHost `json:"review"`
	}
	_ = json.Unmarshal(planJSON, &p)
	return p.Review
}

// buildPlan turns a spec into the hosts, exact versions, waves and windows.
// Only versions that fit a host are planned for it (see change.FitTarget);
// a host whose data cannot make a valid job is left out with the reason,
// and never blocks the others.
func (s *Server) buildPlan(ctx context.Context, spec ChangeSpec) (builtPlan, error) {
	_, org := s.org.get()
	plan, err := rolloutParams(spec, org)
	if err != nil {
		return builtPlan{}, err
	}
	advisories, err := s.planAdvisories(ctx, spec.Advisories)
	if err != nil {
		return builtPlan{}, err
	}
	var agentReleases map[string]release.Release
	if spec.AgentRelease != "" {
		if agentReleases, err = s.agentReleasePlatforms(ctx, spec.AgentRelease); err != nil {
			return builtPlan{}, err
		}
	}
	hosts, err := s.allHosts(ctx)
	if err != nil {
		return builtPlan{}, err
	}
	now := s.now()
	var review []PlanHost
	carried := map[string]bool{} // explicit package names some host of the groups has
	planned := map[string]bool{} // a host in two target groups goes with the first
	for _, gname := range spec.Groups {
		g, err := s.findGroup(org, gname)
		if err != nil {
			return builtPlan{}, errBadRequest(fmt.Sprintf("groups: %q is not a group", gname))
		}
		ring := slices.Index(org.Rings, g.Ring)
		if err := planWindows(&plan, org, g, spec.IgnoreWindows, now); err != nil {
			return builtPlan{}, err
		}
		for _, h := range hosts {
			hi := hostInfo(h)
			if planned[h.ID] || !g.Selector.Selects(hi) {
				continue
			}
			var targets []PlanTarget
			if spec.AgentRelease != "" {
				targets = agentTargets(h, spec.AgentRelease, agentReleases)
			} else if targets, err = s.hostTargets(ctx, h, spec, advisories, carried); err != nil {
				return builtPlan{}, err
			}
			if len(targets) == 0 {
				continue
			}
			planned[h.ID] = true
			tier, _ := g.TierOf(hi)
			tierIdx := slices.IndexFunc(g.RebootOrder, func(t policy.RebootTier) bool { return t.Tier == tier })
			if tierIdx < 0 {
				tierIdx, tier = len(g.RebootOrder), ""
			}
			ph := PlanHost{HostID: h.ID, Hostname: h.Hostname, Group: g.Name, Ring: g.Ring, Tier: tier, Targets: targets, ring: ring}
			dispatch := hostDispatch(h, targets, &ph)
			review = append(review, ph)
			if len(dispatch) == 0 {
				continue
			}
			reboot, restart := hostRebootPolicy(g.Reboot, spec.Reboot).AfterPatch(
				rollout.Needs{Reboot: h.Facts.RebootRequired, Services: h.Facts.ServicesNeedingRestart})
			if spec.AgentRelease != "" {
				reboot, restart = false, nil // the agent restarts itself
			}
			plan.Hosts = append(plan.Hosts, rollout.HostPlan{HostID: h.ID, Group: g.Name, Ring: ring, Tier: tierIdx,
				Platform: h.Facts.OS.ID + "-" + h.Facts.OS.VersionID, Targets: dispatch, NeedsReboot: reboot, RestartOnly: restart})
		}
	}
	for _, p := range spec.Packages {
		if !carried[p.Name] {
			return builtPlan{}, &Error{http.StatusNotFound, "not_found", fmt.Sprintf(
				"package %s is not installed on any host of groups %s; check its name with patchbay hosts show", p.Name, strings.Join(spec.Groups, ", "))}
		}
	}
	sort.SliceStable(review, func(i, j int) bool {
		return cmp.Or(cmp.Compare(review[i].ring, review[j].ring), strings.Compare(review[i].Hostname, review[j].Hostname)) < 0
	})
	if len(plan.Hosts) == 0 {
		return builtPlan{}, errNothingPlanned(review, spec)
	}
	sort.SliceStable(plan.Hosts, func(i, j int) bool { return plan.Hosts[i].Ring < plan.Hosts[j].Ring })
	if err := s.checkStart(spec, plan); err != nil {
		return builtPlan{}, err
	}
	return builtPlan{Plan: plan, Review: review}, nil
}

// rolloutParams checks a spec's rollout parameters and returns the plan
// without hosts or windows.
func rolloutParams(spec ChangeSpec, org *policy.Org) (rollout.Plan, error) {
	if len(spec.Groups) == 0 {
		return rollout.Plan{}, errBadRequest("groups: name at least one target group")
	}
	if len(spec.Packages) == 0 && len(spec.Advisories) == 0 && spec.AgentRelease == "" {
		return rollout.Plan{}, errBadRequest("packages, advisories or agent_release: say what to install")
	}
	if err := checkAgentReleaseSpec(spec); err != nil {
		return rollout.Plan{}, err
	}
	if len(org.Rings) == 0 {
		return rollout.Plan{}, errBadRequest("the organisation defines no rings; apply one first")
	}
	soak, err := parseDur("soak", spec.Soak, 0)
	if err != nil {
		return rollout.Plan{}, err
	}
	timeout, err := parseDur("job_timeout", spec.JobTimeout, 30*time.Minute)
	if err != nil {
		return rollout.Plan{}, err
	}
	if r := rollout.RebootPolicy(spec.Reboot); r != "" && r != rollout.RebootIfRequired && r != rollout.RebootRestartServices {
		return rollout.Plan{}, errBadRequest(fmt.Sprintf("reboot: %q is not a change reboot policy; use if-required (each group's own policy) or restart-services", spec.Reboot))
	}
	plan := rollout.Plan{Rings: org.Rings, BatchSize: spec.BatchSize, BatchPercent: spec.BatchPercent,
		FailureBudget: spec.FailureBudget, FailurePercent: spec.FailurePercent, Soak: soak, JobTimeout: timeout,
		HealthChecks: spec.HealthChecks, AutoRollback: spec.AutoRollback, Windows: map[string][]rollout.Window{}}
	if plan.BatchSize == 0 && plan.BatchPercent == 0 {
		plan.BatchSize = 1
	}
	return plan, nil
}

// planWindows adds a group's maintenance windows to the plan.
func planWindows(plan *rollout.Plan, org *policy.Org, g policy.Group, ignore bool, now time.Time) error {
	if ignore {
		plan.Windows[g.Name] = []rollout.Window{{Start: now.Add(-time.Minute), End: now.AddDate(1, 0, 0)}}
		return nil
	}
	var ws []schedule.Window
	for _, w := range g.Windows {
		ws = append(ws, toWindow(w))
	}
	if len(ws) == 0 {
		return nil
	}
	occ, err := schedule.Next(ws, freezesFor(org, g.Team), now, 200)
	if err != nil {
		return err
	}
	for _, o := range occ {
		plan.Windows[g.Name] = append(plan.Windows[g.Name], rollout.Window{Start: o.Start, End: o.End})
	}
	return nil
}

// hostDispatch is what a host's job installs: its planned targets, unless
// they cannot make a valid job, in which case the host is excluded. It
// sets the host's status and reason.
func hostDispatch(h store.Host, targets []PlanTarget, ph *PlanHost) []rollout.Target {
	var out []rollout.Target
	for _, t := range targets {
		if t.Status == string(change.Planned) {
			out = append(out, rollout.Target{Name: t.Name, Arch: t.Arch, Version: t.Version})
		}
	}
	if len(out) == 0 {
		// The host's status is its most telling target's: an exclusion
		// first, then a refused downgrade, then a version not offered.
		for _, st := range []change.Verdict{change.Excluded, change.DowngradeRefused, change.NotOffered} {
			if i := slices.IndexFunc(targets, func(t PlanTarget) bool { return t.Status == string(st) }); i >= 0 {
				ph.Status, ph.Reason = string(st), targets[i].Reason
				break
			}
		}
		return nil
	}
	// The engine signs exactly this job (with its own ID, sequence and
	// times): a host whose data cannot make it is left out here rather
	// than failing every engine step of the change.
	job := protocol.Job{ID: "plan", HostID: h.ID, Seq: 1, NotBefore: time.Unix(0, 0), Expires: time.Unix(1, 0), Action: protocol.ActionInstall}
	for _, t := range out {
		job.Packages = append(job.Packages, protocol.JobPackage{Name: t.Name, Arch: t.Arch, Version: t.Version})
	}
	if err := job.Validate(); err != nil {
		ph.Status, ph.Reason = string(change.Excluded), "its data cannot make a valid job: "+err.Error()
		return nil
	}
	ph.Status = string(change.Planned)
	var notes []string
	for _, t := range targets {
		switch {
		case t.Status != string(change.Planned):
			// Left out of the job; the others go ahead.
			notes = append(notes, t.Name+" "+t.Status+": "+t.Reason)
		case t.Reason != "":
			notes = append(notes, t.Name+": "+t.Reason)
		}
	}
	ph.Reason = strings.Join(notes, "; ")
	return out
}

// errNothingPlanned says why no host of the groups got a job.
func errNothingPlanned(review []PlanHost, spec ChangeSpec) error {
	if len(review) == 0 {
		what := "these packages"
		if len(spec.Packages) == 0 {
			what = "a fix of these advisories (no open finding with a fixed version)"
		}
		return errBadRequest(fmt.Sprintf("no host in groups %s needs %s", strings.Join(spec.Groups, ", "), what))
	}
	var lines []string
	for _, h := range review[:min(len(review), 10)] {
		lines = append(lines, fmt.Sprintf("%s: %s (%s)", h.Hostname, h.Status, h.Reason))
	}
	if len(review) > 10 {
		lines = append(lines, fmt.Sprintf("and %d more", len(review)-10))
	}
	return errBadRequest("no host can be planned: " + strings.Join(lines, "; "))
}

// planAdvisory is what a plan needs of an advisory: the platforms its
// affected entries name.
type planAdvisory struct {
	platforms []change.Platform
}

// planAdvisories looks up the advisories a spec names; an unknown one is
// an error that names it.
func (s *Server) planAdvisories(ctx context.Context, ids []string) (map[string]planAdvisory, error) {
	out := make(map[string]planAdvisory, len(ids))
	for _, id := range ids {
		a, err := s.store.GetAdvisory(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{http.StatusNotFound, "not_found", fmt.Sprintf(
				"advisory %s is not known; import its feed with patchbay feeds import", id)}
		}
		if err != nil {
			return nil, fmt.Errorf("advisory %s: %w", id, err)
		}
		var rec advisory.Advisory
		var pa planAdvisory
		if json.Unmarshal(a.Data, &rec) == nil {
			for _, af := range rec.Affected {
				if af.Distro.ID == "" {
					continue
				}
				p := change.AdvisoryPlatform(af.Distro.ID, af.Distro.Release, string(af.Distro.Format))
				if !slices.Contains(pa.platforms, p) {
					pa.platforms = append(pa.platforms, p)
				}
			}
		}
		out[id] = pa
	}
	return out, nil
}

// hostTargets is what the change asks of one host, each with its fit: the
// explicit versions of packages it has installed at another version, and
// the fixed versions of the named advisories' open findings. carried
// records the explicit package names the host has.
func (s *Server) hostTargets(ctx context.Context, h store.Host, spec ChangeSpec, advisories map[string]planAdvisory, carried map[string]bool) ([]PlanTarget, error) {
	fh := change.FitHost{Arch: h.Facts.Arch,
		Platform: change.HostPlatform(h.Facts.OS.ID, h.Facts.OS.IDLike, h.Facts.OS.VersionID, string(h.Facts.PackageFormat))}
	opts := change.FitOptions{AllowDowngrade: spec.AllowDowngrade, ForceNotOffered: spec.ForceNotOffered}
	var out []PlanTarget
	add := func(c change.Candidate) {
		if slices.ContainsFunc(out, func(o PlanTarget) bool { return o.Name == c.Name && o.Arch == c.Arch }) {
			return
		}
		f := change.FitTarget(fh, c, opts)
		if f.Verdict == change.Current {
			return
		}
		out = append(out, PlanTarget{Name: c.Name, Arch: c.Arch, Installed: c.Installed, Version: cmp.Or(f.Version, c.Version),
			Offered: c.Offered, Advisory: c.Advisory, Status: string(f.Verdict), Reason: f.Reason})
	}
	if len(spec.Packages) > 0 {
		names := make([]string, len(spec.Packages))
		for i, p := range spec.Packages {
			names[i] = p.Name
		}
		pkgs, err := s.store.ListHostPackages(ctx, h.ID, names...)
		if err != nil {
			return nil, err
		}
		if fh.Platform.Format == "" && len(pkgs) > 0 {
			fh.Platform.Format = string(pkgs[0].Format)
		}
		for _, want := range spec.Packages {
			for _, p := range pkgs {
				if p.Name == want.Name {
					carried[p.Name] = true
					add(change.Candidate{Name: p.Name, Arch: p.Arch, Installed: p.Version, Version: want.Version, Offered: p.UpdateVersion})
				}
			}
		}
	}
	for _, adv := range spec.Advisories {
		fs, _, err := s.store.ListFindings(ctx, store.FindingFilter{HostID: h.ID, AdvisoryID: adv, Limit: 10000})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, f := range fs {
			if f.FixedVersion != "" && !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		}
		if len(names) == 0 {
			continue
		}
		pkgs, err := s.store.ListHostPackages(ctx, h.ID, names...)
		if err != nil {
			return nil, err
		}
		if fh.Platform.Format == "" && len(pkgs) > 0 {
			fh.Platform.Format = string(pkgs[0].Format)
		}
		for _, f := range fs {
			if f.FixedVersion == "" {
				continue
			}
			offered := ""
			if i := slices.IndexFunc(pkgs, func(p store.HostPackage) bool { return p.Name == f.Name && p.Arch == f.Arch }); i >= 0 {
				offered = pkgs[i].UpdateVersion
			}
			add(change.Candidate{Name: f.Name, Arch: f.Arch, Installed: f.InstalledVersion, Version: f.FixedVersion,
				Advisory: adv, Platforms: advisories[adv].platforms, Offered: offered})
		}
	}
	return out, nil
}

// consolePlanReview is a plan's review as the console's change page shows it.
func consolePlanReview(review []PlanHost) []web.PlanReviewHost {
	out := make([]web.PlanReviewHost, 0, len(review))
	for _, h := range review {
		r := web.PlanReviewHost{HostID: h.HostID, Hostname: h.Hostname, Group: h.Group, Ring: h.Ring, Tier: h.Tier,
			Status: h.Status, Reason: h.Reason}
		for _, t := range h.Targets {
			r.Targets = append(r.Targets, t.Name+" "+t.Version)
		}
		out = append(out, r)
	}
	return out
}
