package rollout

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// Target is one package to bring to an exact version on a host.
type Target struct {
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// HostPlan is what the change does to one host.
type HostPlan struct {
	HostID string `json:"host_id"`
	// Group names the host's group; it selects the maintenance windows
	// and scopes reboot tiers.
	Group string `json:"group"`
	// Platform distinguishes package universes that may carry the same
	// package name at different versions (for example "debian-12" and
	// "debian-11"); versions are pinned per (Platform, Name, Arch).
	Platform string `json:"platform,omitempty"`
	// Ring is the index of the host's wave in Plan.Rings.
	Ring int `json:"ring"`
	// Tier is the reboot tier within the group and wave; tier 0 goes first.
	Tier    int      `json:"tier"`
	Targets []Target `json:"targets"`
	// NeedsReboot asks for a Reboot after a successful install.
	NeedsReboot bool `json:"needs_reboot,omitempty"`
	// RestartOnly lists services to restart instead of rebooting (as
	// needrestart reports them); used only when NeedsReboot is false.
	RestartOnly []string `json:"restart_only,omitempty"`
}

// Window is one open maintenance period, [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Plan is the rollout part of an approved change.
type Plan struct {
	Hosts []HostPlan `json:"hosts"`
	// Rings names the waves in the order they run.
	Rings []string `json:"rings"`
	// BatchSize or BatchPercent (exactly one is set) caps the hosts in
	// flight at once within a wave; a percentage is of the wave's hosts,
	// rounded up, at least 1.
	BatchSize    int `json:"batch_size,omitempty"`
	BatchPercent int `json:"batch_percent,omitempty"`
	// FailureBudget or FailurePercent (at most one is set; neither means 0)
	// is the number of failed hosts the whole change tolerates; a
	// percentage is of all hosts of the change, rounded down.
	FailureBudget  int `json:"failure_budget,omitempty"`
	FailurePercent int `json:"failure_percent,omitempty"`
	// Soak is how long a finished wave waits, from its last host result,
	// before the next wave may start.
	Soak time.Duration `json:"soak"`
	// HealthChecks must each be reported ok for a wave after it finished
	// before the next wave starts.
	HealthChecks []string `json:"health_checks,omitempty"`
	// JobTimeout bounds every job: one without a result by its dispatch
	// time plus JobTimeout has failed.
	JobTimeout time.Duration `json:"job_timeout"`
	// Windows maps a group to its open periods, already expanded by the
	// caller. A group without an entry is never open.
	Windows map[string][]Window `json:"windows,omitempty"`
	// AutoRollback rolls back a host whose job failed, and every host of a
	// wave whose health check failed.
	AutoRollback bool `json:"auto_rollback,omitempty"`
}

// problems gathers what is wrong, each at its field path.
type problems struct{ fielderr.List }

func (p *problems) add(path, format string, args ...any) { p.Add(path, format, args...) }

// names reports each empty or repeated entry of the list at field; kind
// names an entry ("ring", "check").
func (p *problems) names(field, kind string, list []string) {
	seen := map[string]bool{}
	for i, n := range list {
		switch path := fmt.Sprintf("%s[%d]", field, i); {
		case n == "":
			p.add(path, "%s name is required", kind)
		case seen[n]:
			p.add(path, "%s %q is listed twice", kind, n)
		}
		seen[n] = true
	}
}

// countOrPercent checks a limit given as a number of hosts or a percent of
// them, not both: lowest is the smallest percent that means something, and
// required says one of the two must be set.
func (p *problems) countOrPercent(countField string, count int, percentField string, percent, lowest int, required bool) {
	switch {
	case count < 0:
		p.add(countField, "must not be negative, got %d", count)
	case percent < 0 || percent > 100:
		p.add(percentField, "must be between %d and 100, got %d", lowest, percent)
	case count > 0 && percent > 0:
		p.add(countField, "set %s or %s, not both", countField, percentField)
	case required && count == 0 && percent == 0:
		p.add(countField, "set %s or %s", countField, percentField)
	}
}

func (p *problems) err() error {
	p.What = "rollout plan"
	return p.Err()
}

// pinKey identifies a package whose version is pinned across the change.
func pinKey(platform string, t Target) string {
	return platform + "|" + t.Name + "|" + t.Arch
}

// Validate reports every problem with the plan as a *fielderr.List naming
// each field.
func (p *Plan) Validate() error {
	var pr problems
	if len(p.Rings) == 0 {
		pr.add("rings", "at least one ring is required")
	}
	pr.names("rings", "ring", p.Rings)
	pr.countOrPercent("batch_size", p.BatchSize, "batch_percent", p.BatchPercent, 1, true)
	pr.countOrPercent("failure_budget", p.FailureBudget, "failure_percent", p.FailurePercent, 0, false)
	if p.Soak < 0 {
		pr.add("soak", "must not be negative, got %s", p.Soak)
	}
	if p.JobTimeout <= 0 {
		pr.add("job_timeout", "must be positive, got %s", p.JobTimeout)
	}
	pr.names("health_checks", "check", p.HealthChecks)
	for g, ws := range p.Windows {
		for i, w := range ws {
			if !w.Start.Before(w.End) {
				pr.add(fmt.Sprintf("windows[%q][%d]", g, i), "start %s is not before end %s",
					w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
			}
		}
	}
	if len(p.Hosts) == 0 {
		pr.add("hosts", "at least one host is required")
	}
	ids := map[string]int{}
	versions := map[string]string{} // pin key → version, to catch conflicts
	for i, h := range p.Hosts {
		path := "hosts[" + strconv.Itoa(i) + "]" // cheap: state decoding validates every plan
		if h.HostID == "" {
			pr.add(path+".host_id", "host ID is required")
		} else if j, dup := ids[h.HostID]; dup {
			pr.add(path+".host_id", "host %q is already hosts[%d]", h.HostID, j)
		} else {
			ids[h.HostID] = i
		}
		if h.Group == "" {
			pr.add(path+".group", "group is required")
		}
		if h.Ring < 0 || h.Ring >= len(p.Rings) {
			pr.add(path+".ring", "ring index %d is out of range (%d rings)", h.Ring, len(p.Rings))
		}
		if h.Tier < 0 {
			pr.add(path+".tier", "must not be negative, got %d", h.Tier)
		}
		if len(h.Targets) == 0 {
			pr.add(path+".targets", "at least one target package is required")
		}
		seen := map[string]bool{}
		for j, t := range h.Targets {
			tp := path + ".targets[" + strconv.Itoa(j) + "]"
			if t.Name == "" {
				pr.add(tp+".name", "package name is required")
			}
			if t.Version == "" {
				pr.add(tp+".version", "version is required")
			}
			k := pinKey(h.Platform, t)
			if seen[k] {
				pr.add(tp, "package %s (%s) is listed twice", t.Name, t.Arch)
			}
			seen[k] = true
			if v, ok := versions[k]; ok && v != t.Version && t.Version != "" {
				pr.add(tp+".version", "%s %s conflicts with %s planned for other %q hosts; one change carries one version per package",
					t.Name, t.Version, v, h.Platform)
			} else if !ok {
				versions[k] = t.Version
			}
		}
		for j, svc := range h.RestartOnly {
			if svc == "" {
				pr.add(fmt.Sprintf("%s.restart_only[%d]", path, j), "service name is required")
			}
		}
	}
	return pr.err()
}

// batchLimit is the in-flight cap for a wave of n hosts.
func (p *Plan) batchLimit(n int) int {
	if p.BatchSize > 0 {
		return p.BatchSize
	}
	l := (n*p.BatchPercent + 99) / 100
	return max(l, 1)
}

// budget is the number of failed hosts the change tolerates.
func (p *Plan) budget() int {
	if p.FailurePercent > 0 {
		return len(p.Hosts) * p.FailurePercent / 100
	}
	return p.FailureBudget
}

// RebootPolicy decides what a host gets after a good install: a reboot, a
// restart of the services that need one, or neither. The caller applies it
// to each host's reported needs when it builds the plan (AfterPatch); the
// engine then follows HostPlan.NeedsReboot and RestartOnly.
type RebootPolicy string

// The reboot policies. The empty policy means RebootIfRequired.
const (
	// RebootIfRequired reboots a host that reports it needs a reboot.
	RebootIfRequired RebootPolicy = "if-required"
	// RebootNever reboots no host and restarts nothing.
	RebootNever RebootPolicy = "never"
	// RebootAlways reboots every host.
	RebootAlways RebootPolicy = "always"
	// RebootRestartServices reboots a host that needs a reboot; a host that
	// needs only some services restarted gets a restart of those instead;
	// a host that needs neither gets neither.
	RebootRestartServices RebootPolicy = "restart-services"
)

// Valid reports whether p is one of the policies (or empty).
func (p RebootPolicy) Valid() bool {
	switch p {
	case "", RebootIfRequired, RebootNever, RebootAlways, RebootRestartServices:
		return true
	}
	return false
}

// Needs is what a host reports it needs to run its patched code.
type Needs struct {
	Reboot   bool
	Services []string // services still running replaced code
}

// AfterPatch returns a host's NeedsReboot and RestartOnly under policy p.
// Never both: a reboot restarts every service anyway.
func (p RebootPolicy) AfterPatch(n Needs) (reboot bool, restart []string) {
	switch p {
	case RebootAlways:
		return true, nil
	case RebootNever:
		return false, nil
	case RebootRestartServices:
		if n.Reboot {
			return true, nil
		}
		if len(n.Services) > 0 {
			return false, slices.Clone(n.Services)
		}
		return false, nil
	default:
		return n.Reboot, nil
	}
}
