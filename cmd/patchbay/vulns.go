package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newVulnsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vulns", Short: "Open findings across the fleet, ranked by priority"}
	cmd.AddCommand(newVulnsListCmd(g), newVulnsShowCmd(g))
	return cmd
}

func newVulnsListCmd(g *globals) *cobra.Command {
	var by, severity, kev, overdue, status, excepted, fixAvailable, group, team, advisory, pkg, sortCol, order string
	var hosts, labels []string
	var paging pagingFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Open findings by advisory (default), by host, by package, or one per finding (--by finding)",
		Long: `Open findings rolled up by advisory (default), host or package, with distinct host counts,
or one row per host and package with --by finding (the only view of resolved findings: --status).

Sort columns (--sort, --order asc|desc):
  advisory: priority, hosts, findings, excepted, fix_hosts, kev, overdue, epss, due, advisory
  host:     priority, advisories, findings, excepted, fix_findings, kev, overdue, due, hostname
  package:  priority, hosts, advisories, findings, excepted, fix_hosts, kev, overdue, epss, due, package

In table mode a cut list says so on stderr ("showing 100 of 2310 advisories").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if by == "" {
				by = "advisory"
				if status != "" && status != "open" {
					by = "finding" // resolved findings are listed one by one
				}
			}
			limit, err := paging.max()
			if err != nil {
				return err
			}
			q := url.Values{}
			set := func(k, v string) {
				if v != "" {
					q.Set(k, v)
				}
			}
			for _, v := range []struct{ flag, val string }{{"kev", kev}, {"overdue", overdue}, {"excepted", excepted}, {"fix-available", fixAvailable}} {
				if v.val == "" {
					continue
				}
				if _, err := strconv.ParseBool(v.val); err != nil {
					return fmt.Errorf("--%s %q: use true or false", v.flag, v.val)
				}
			}
			set("severity", severity)
			set("kev", kev)
			set("overdue", overdue)
			set("excepted", excepted)
			set("advisory", advisory)
			for _, l := range labels {
				q.Add("label", l)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if by == "finding" {
				for flag, v := range map[string]string{"--group": group, "--team": team, "--fix-available": fixAvailable, "--package": pkg, "--sort": sortCol, "--order": order} {
					if v != "" {
						return fmt.Errorf("%s works with --by advisory, host or package", flag)
					}
				}
				if len(hosts) > 1 {
					return errors.New("--by finding takes one --host")
				}
				if len(hosts) == 1 {
					q.Set("host", hosts[0])
				}
				set("status", status)
				fs, total, err := listPages[api.Finding](cmd.Context(), c, "/api/v1/vulns", q, limit)
				if err != nil {
					return err
				}
				if err := printFindings(out, g.output, fs, true); err != nil {
					return err
				}
				showing(cmd.ErrOrStderr(), g.output, len(fs), total, "findings")
				return nil
			}
			switch by {
			case "advisory", "host", "package":
			default:
				return fmt.Errorf("--by %q: use advisory, host, package or finding", by)
			}
			if status != "" && status != "open" {
				return fmt.Errorf("--status %s: roll-ups count open findings; add --by finding to list resolved ones", status)
			}
			for _, h := range hosts {
				q.Add("host", h)
			}
			set("group", group)
			set("team", team)
			set("fix_available", fixAvailable)
			set("package", pkg)
			set("sort", sortCol)
			set("order", order)
			rs, total, err := listPages[api.FindingRollup](cmd.Context(), c, "/api/v1/vulns/by/"+by, q, limit)
			if err != nil {
				return err
			}
			if err := printRollups(out, g.output, by, rs); err != nil {
				return err
			}
			nouns := map[string]string{"advisory": "advisories", "host": "hosts", "package": "packages"}
			showing(cmd.ErrOrStderr(), g.output, len(rs), total, nouns[by])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&by, "by", "", "advisory (default), host, package, or finding (one row per host and package)")
	f.StringArrayVar(&hosts, "host", nil, "hostname or host ID (repeatable)")
	f.StringArrayVar(&labels, "label", nil, "host label key=value (repeatable; all must match)")
	f.StringVar(&group, "group", "", "only hosts of this group")
	f.StringVar(&team, "team", "", "only hosts a group of this team holds")
	f.StringVar(&severity, "severity", "", "critical, high, medium, low, none or unknown")
	f.StringVar(&kev, "kev", "", "true: only in CISA KEV; false: only not")
	f.StringVar(&overdue, "overdue", "", "true: only findings past their SLA due date")
	f.StringVar(&fixAvailable, "fix-available", "", "true: only findings the hosts' repositories offer a fix for; false: only the others")
	f.StringVar(&excepted, "excepted", "", "true: only findings an active exception accepts; false: only the others")
	f.StringVar(&advisory, "advisory", "", "only this advisory")
	f.StringVar(&pkg, "package", "", "only this package name")
	f.StringVar(&status, "status", "", "open (default), resolved or all (resolved and all imply --by finding)")
	f.StringVar(&sortCol, "sort", "", "column to sort by (see above; default priority)")
	f.StringVar(&order, "order", "", "asc or desc (default: numbers high to low, dates and names ascending)")
	paging.add(cmd, 100, "rows")
	return cmd
}

// printRollups writes roll-ups as a table, or their JSON array.
func printRollups(w io.Writer, output, by string, rs []api.FindingRollup) error {
	if output == "json" {
		return printJSON(w, rs)
	}
	var t *table
	switch by {
	case "advisory":
		t = newTable(w, "ADVISORY", "SEVERITY", "PRIORITY", "HOSTS", "FINDINGS", "EXCEPTED", "FIX AVAILABLE ON", "KEV", "EPSS", "OVERDUE", "DUE", "SUMMARY")
	case "host":
		t = newTable(w, "HOST", "PRIORITY", "ADVISORIES", "FINDINGS", "EXCEPTED", "FIX AVAILABLE", "KEV", "OVERDUE", "DUE")
	default:
		t = newTable(w, "PACKAGE", "PRIORITY", "HOSTS", "ADVISORIES", "FINDINGS", "EXCEPTED", "FIX AVAILABLE ON", "KEV", "EPSS", "OVERDUE", "DUE")
	}
	n := strconv.Itoa
	for _, r := range rs {
		prio := strconv.FormatFloat(r.Priority, 'f', 1, 64)
		epss := "-"
		if r.EPSS != nil {
			epss = strconv.FormatFloat(*r.EPSS, 'f', 3, 64)
		}
		due := "-"
		if r.DueAt != nil {
			due = r.DueAt.Format("2006-01-02")
		}
		switch by {
		case "advisory":
			t.row(r.AdvisoryID, r.Severity, prio, n(r.Hosts), n(r.Findings), n(r.Excepted), n(r.FixHosts)+" hosts", n(r.KEV), epss,
				n(r.Overdue), due, truncate(r.Summary, 60))
		case "host":
			t.row(r.Hostname, prio, n(r.Advisories), n(r.Findings), n(r.Excepted), n(r.FixFindings), n(r.KEV), n(r.Overdue), due)
		default:
			t.row(r.Package, prio, n(r.Hosts), n(r.Advisories), n(r.Findings), n(r.Excepted), n(r.FixHosts)+" hosts", n(r.KEV), epss,
				n(r.Overdue), due)
		}
	}
	return t.flush()
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func printFindings(w io.Writer, output string, fs []api.Finding, withHost bool) error {
	if output == "json" {
		if fs == nil {
			fs = []api.Finding{}
		}
		return printJSON(w, fs)
	}
	header := []string{"PRIORITY", "SEVERITY", "SSVC", "KEV", "HOST", "PACKAGE", "INSTALLED", "FIXED", "FIX AVAILABLE", "ADVISORY", "CVES", "DUE", "STATUS"}
	if !withHost {
		header = append(header[:4], header[5:]...)
	}
	t := newTable(w, header...)
	for _, f := range fs {
		kev := ""
		if f.KEV {
			kev = "KEV"
		}
		due := ""
		if f.DueAt != nil {
			due = f.DueAt.Format("2006-01-02")
			if f.Overdue {
				due += " OVERDUE"
			}
		}
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "(no fix yet)"
		}
		status := f.Status
		if f.Status == "resolved" && f.ResolvedAt != nil {
			status = "resolved " + f.ResolvedAt.Format(time.RFC3339)
		}
		if f.Excepted {
			status += " (excepted)"
		}
		if f.Held != "" {
			status += " (held: " + f.Held + ")"
		}
		sev := f.Severity
		if sev == "" {
			sev = "unknown"
		}
		row := []string{strconv.FormatFloat(f.Priority, 'f', 1, 64), sev, f.SSVC, kev, f.Hostname,
			f.Package, f.InstalledVersion, fixed, yesNo(f.FixAvailable), f.AdvisoryID, strings.Join(f.CVEs, ","), due, status}
		if !withHost {
			row = append(row[:4], row[5:]...)
		}
		t.row(row...)
	}
	return t.flush()
}

func newVulnsShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an advisory (or every advisory naming a CVE) with the hosts it affects and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.Vulnerability]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/vulns/"+url.PathEscape(args[0]), nil, nil, &page); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				return printJSON(out, page.Items)
			}
			for i, v := range page.Items {
				if i > 0 {
					fmt.Fprintln(out)
				}
				kv := newTable(out, "FIELD", "VALUE")
				kv.row("advisory", v.ID)
				kv.row("summary", v.Summary)
				kv.row("cves", strings.Join(v.CVEs, ", "))
				kv.row("severity (feed)", v.Severity)
				kv.row("cvss", strings.Join(v.CVSS, " "))
				kv.row("published", v.Published.Format(time.RFC3339))
				kv.row("modified", v.Modified.Format(time.RFC3339))
				if v.Withdrawn != nil {
					kv.row("withdrawn", v.Withdrawn.Format(time.RFC3339))
				}
				kv.row("feed", v.Feed)
				kv.row("affected hosts", strconv.Itoa(v.AffectedHosts))
				kv.row("open findings", fmt.Sprintf("%d (one per host and package)", len(v.Findings)))
				if err := kv.flush(); err != nil {
					return err
				}
				if len(v.Findings) > 0 {
					fmt.Fprintln(out)
					if err := printFindings(out, "table", v.Findings, true); err != nil {
						return err
					}
					fmt.Fprintln(out, "\nwhy this priority (first host):")
					for _, r := range v.Findings[0].Reasons {
						fmt.Fprintln(out, "  "+inert(r))
					}
				}
			}
			return nil
		},
	}
}
