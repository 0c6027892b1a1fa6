package main

import (
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
	var host, severity, kev, overdue, status, excepted string
	var labels []string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List findings by priority (filters: --host, --label, --severity, --kev, --overdue, --status)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"host": host, "severity": severity, "kev": kev, "overdue": overdue, "status": status, "excepted": excepted} {
				if v != "" {
					q.Set(k, v)
				}
			}
			for _, l := range labels {
				q.Add("label", l)
			}
			var all []api.Finding
			for {
				q.Set("limit", strconv.Itoa(min(limit-len(all), 1000)))
				var page api.Page[api.Finding]
				if err := c.Do(cmd.Context(), "GET", "/api/v1/vulns", q, nil, &page); err != nil {
					return err
				}
				all = append(all, page.Items...)
				if page.NextPageToken == "" || len(all) >= limit {
					break
				}
				q.Set("page_token", page.NextPageToken)
			}
			return printFindings(cmd.OutOrStdout(), g.output, all, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "", "host ID or hostname")
	f.StringArrayVar(&labels, "label", nil, "host label key=value (repeatable; all must match)")
	f.StringVar(&severity, "severity", "", "critical, high, medium, low or unknown")
	f.StringVar(&kev, "kev", "", "true: only in CISA KEV; false: only not")
	f.StringVar(&overdue, "overdue", "", "true: only findings past their SLA due date")
	f.StringVar(&status, "status", "", "open (default), resolved or all")
	f.StringVar(&excepted, "excepted", "", "true: only findings an active exception accepts; false: only the others")
	f.IntVar(&limit, "limit", 500, "at most this many findings")
	return cmd
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
				kv.row("affected hosts", strconv.Itoa(len(v.Findings)))
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
