package main

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"

	"github.com/spf13/cobra"
)

type changeView struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	State      string    `json:"state"`
	Author     string    `json:"author"`
	ApprovedBy string    `json:"approved_by"`
	CreatedAt  time.Time `json:"created_at"`
	Plan       struct {
		Rings []string `json:"rings"`
		Hosts []struct {
			HostID  string `json:"host_id"`
			Group   string `json:"group"`
			Ring    int    `json:"ring"`
			Tier    int    `json:"tier"`
			Targets []struct {
				Name, Arch, Version string
			} `json:"targets"`
			NeedsReboot bool     `json:"needs_reboot"`
			RestartOnly []string `json:"restart_only"`
		} `json:"hosts"`
		Windows map[string][]struct {
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"windows"`
	} `json:"plan"`
	// Review is every host the plan considered, by hostname (changes
	// planned before it existed have none: the plan's hosts are shown).
	Review  []planHostView     `json:"review,omitempty"`
	Summary *api.ChangeSummary `json:"summary"`
	// JobsOut are jobs delivered and not reported yet.
	JobsOut []struct {
		HostID   string `json:"host_id"`
		Hostname string `json:"hostname"`
		Phase    string `json:"phase"`
	} `json:"jobs_out"`
	Hosts         []api.ChangeHost  `json:"hosts"`
	History       []api.ChangeEvent `json:"history"`
	KnownProblems []struct {
		ID      string `json:"id"`
		Title   string `json:"title"`
		Problem string `json:"problem"`
		Fix     string `json:"fix"`
		Status  string `json:"status"`
	} `json:"known_problems,omitempty"`
	Waiting string `json:"waiting"`
	Waves   int    `json:"waves"`
	Wave    int    `json:"wave"`
}

func newChangesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "changes", Short: "Change requests: create, plan, approve, start, halt, resume, rollback"}
	var spec struct {
		Title          string              `json:"title"`
		Groups         []string            `json:"groups"`
		Packages       []map[string]string `json:"packages,omitempty"`
		Advisories     []string            `json:"advisories,omitempty"`
		BatchSize      int                 `json:"batch_size,omitempty"`
		BatchPercent   int                 `json:"batch_percent,omitempty"`
		FailureBudget  int                 `json:"failure_budget,omitempty"`
		FailurePercent int                 `json:"failure_percent,omitempty"`
		Soak           string              `json:"soak,omitempty"`
		JobTimeout     string              `json:"job_timeout,omitempty"`
		HealthChecks   []string            `json:"health_checks,omitempty"`
		AutoRollback   bool                `json:"auto_rollback,omitempty"`
		IgnoreWindows  bool                `json:"ignore_windows,omitempty"`
		Reboot         string              `json:"reboot,omitempty"`
		Start          string              `json:"start,omitempty"`
		AllowDowngrade bool                `json:"allow_downgrade,omitempty"`
		ForceNotOffer  bool                `json:"force_not_offered,omitempty"`
		AgentRelease   string              `json:"agent_release,omitempty"`
	}
	var pkgs []string
	create := &cobra.Command{
		Use: "create TITLE", Short: "Draft a change: --group G (repeatable) and --package NAME@VERSION, --advisory ID or --agent-release VERSION", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			spec.Title = args[0]
			for _, p := range pkgs {
				name, version, ok := strings.Cut(p, "@")
				if !ok {
					return fmt.Errorf("--package %q: use NAME@VERSION", p)
				}
				spec.Packages = append(spec.Packages, map[string]string{"name": name, "version": version})
			}
			var v changeView
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes", nil, spec, &v); err != nil {
				return err
			}
			return printChange(cmd, g, v)
		},
	}
	f := create.Flags()
	f.StringArrayVar(&spec.Groups, "group", nil, "target group (repeatable)")
	f.StringArrayVar(&pkgs, "package", nil, "NAME@VERSION to install (repeatable)")
	f.StringArrayVar(&spec.Advisories, "advisory", nil, "advisory whose open findings to fix (repeatable)")
	f.StringVar(&spec.AgentRelease, "agent-release", "", "update the agents to this uploaded release (see `patchbay release upload`) instead of installing packages")
	f.IntVar(&spec.BatchSize, "batch", 0, "hosts in flight at once per wave")
	f.IntVar(&spec.BatchPercent, "batch-percent", 0, "hosts in flight at once, as % of the wave")
	f.IntVar(&spec.FailureBudget, "failure-budget", 0, "failed hosts the change tolerates before it halts")
	f.IntVar(&spec.FailurePercent, "failure-percent", 0, "failure budget as % of the change's hosts")
	f.StringVar(&spec.Soak, "soak", "", "wait after each wave, e.g. 1h")
	f.StringVar(&spec.JobTimeout, "job-timeout", "", "a host without a result after this has failed (default 30m)")
	f.StringArrayVar(&spec.HealthChecks, "health-check", nil, "named health check each wave must pass (repeatable)")
	f.BoolVar(&spec.AutoRollback, "auto-rollback", false, "roll back hosts whose job or health check failed")
	f.BoolVar(&spec.IgnoreWindows, "ignore-windows", false, "run outside maintenance windows (emergencies; the approver sees it)")
	f.StringVar(&spec.Start, "start", "", "once approved, start by itself: next-window, or a time inside every target group's window (RFC 3339, e.g. 2026-12-08T22:30:00Z); default: someone runs `changes start`")
	f.BoolVar(&spec.AllowDowngrade, "allow-downgrade", false, "plan versions lower than the installed ones (refused otherwise)")
	f.BoolVar(&spec.ForceNotOffer, "force-not-offered", false, "plan versions the hosts' repositories do not offer (shown as not offered otherwise); never overrides a version built for another release")
	f.StringVar(&spec.Reboot, "reboot", "", "if-required (each group's own reboot policy) or restart-services: where a host needs only services restarted, restart them instead of nothing")

	show := &cobra.Command{
		Use: "show ID", Short: "Show a change: plan, waves, hosts, progress and history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v changeView
			if err := c.Do(cmd.Context(), "GET", "/api/v1/changes/"+url.PathEscape(args[0]), nil, nil, &v); err != nil {
				return err
			}
			return printChange(cmd, g, v)
		},
	}
	plan := &cobra.Command{Use: "plan ID", Short: "The plan of a change: per wave the hosts, versions, windows and reboots", Args: cobra.ExactArgs(1), RunE: show.RunE}
	list := listCmd(g, "list", "List changes", "/api/v1/changes", []string{"ID", "STATE", "TITLE", "AUTHOR", "APPROVED BY", "CREATED AT"},
		func(v changeView) []string {
			return []string{v.ID, v.State, v.Title, v.Author, v.ApprovedBy, v.CreatedAt.Format(time.RFC3339)}
		})
	cmd.AddCommand(create, show, plan, list)
	for _, verb := range []string{"submit", "approve", "reject", "start", "halt", "resume", "cancel"} {
		var reason string
		var body func() any
		if verb == "halt" || verb == "cancel" || verb == "reject" {
			body = func() any {
				if reason == "" {
					return nil
				}
				return map[string]string{"reason": reason}
			}
		}
		c := postCmd(g, verb+" ID", strings.ToUpper(verb[:1])+verb[1:]+" a change", "/api/v1/changes/%s/"+verb, body, changeLine)
		if body != nil {
			c.Flags().StringVar(&reason, "reason", "", "why (kept in the change's history)")
		}
		cmd.AddCommand(c)
	}
	changesExtra(g, cmd)
	cmd.AddCommand(rollbackCommand(g))
	return cmd
}

func printChange(cmd *cobra.Command, g *globals, v changeView) error {
	out := cmd.OutOrStdout()
	if g.output == "json" {
		return printJSON(out, v)
	}
	kv := newTable(out, "FIELD", "VALUE")
	kv.row("change", v.ID)
	kv.row("title", v.Title)
	kv.row("state", v.State)
	kv.row("author", v.Author)
	kv.row("approved by", v.ApprovedBy)
	if v.Wave > 0 {
		kv.row("waves", fmt.Sprintf("%d of %d", v.Wave, v.Waves))
	} else {
		kv.row("waves", fmt.Sprint(v.Waves))
	}
	if s := v.Summary; s != nil {
		// The counts are the whole change's, across its rings; the ring is
		// where the change is now.
		kv.row("progress", fmt.Sprintf("%d hosts in all rings: %d pending, %d in flight, %d succeeded, %d failed (budget %d); now in ring %s %s",
			s.Hosts, s.Pending, s.InFlight, s.Succeeded, s.Failed, s.Budget, s.Ring, s.Reason))
		if len(s.RollbackFailed) > 0 {
			kv.row("rollback failed on", strings.Join(s.RollbackFailed, ", "))
		}
	}
	if len(v.JobsOut) > 0 {
		var out []string
		for _, j := range v.JobsOut {
			out = append(out, cmp.Or(j.Hostname, j.HostID)+" ("+j.Phase+")")
		}
		kv.row("jobs still out", fmt.Sprintf("%d: %s", len(out), inert(strings.Join(out, ", "))))
	}
	if v.Waiting != "" {
		kv.row("waiting for", v.Waiting)
	}
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := printPlan(out, v); err != nil {
		return err
	}
	for _, k := range v.KnownProblems {
		fmt.Fprintln(out, inert(fmt.Sprintf("KNOWN PROBLEM %s (%s): %s — %s; fix: %s", k.ID, k.Status, k.Title, k.Problem, k.Fix)))
	}
	for _, e := range v.History {
		fmt.Fprintln(out, inert(fmt.Sprintf("%s %s %s %s", e.At.Format(time.RFC3339), e.Actor, e.Kind, e.Detail)))
	}
	return nil
}

// afterPatch says what a host of a plan gets after its install: a reboot,
// a restart of the services its facts list (the agent restarts what it
// detects then), or nothing.
func afterPatch(reboot bool, restart []string) string {
	switch {
	case reboot:
		return "reboot"
	case len(restart) > 0:
		return "restart " + strings.Join(restart, " ")
	}
	return "nothing"
}

// changeLine is a change in one line: its state, progress and what it
// waits for.
func changeLine(_ string, v changeView) string {
	line := fmt.Sprintf("change %s (%s): %s", v.ID, v.Title, v.State)
	if s := v.Summary; s != nil && s.Hosts > 0 {
		line += fmt.Sprintf("; %d hosts: %d succeeded, %d in flight, %d failed, %d pending", s.Hosts, s.Succeeded, s.InFlight, s.Failed, s.Pending)
		if s.Reason != "" {
			line += " (" + s.Reason + ")"
		}
	}
	if v.Waiting != "" {
		line += "; waiting for " + v.Waiting
	}
	return line
}
