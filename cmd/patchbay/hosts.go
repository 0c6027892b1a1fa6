package main

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/spf13/cobra"
)

func newHostsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "hosts", Short: "List, show, label and revoke enrolled hosts"}
	cmd.AddCommand(newHostsListCmd(g), newHostsShowCmd(g), newHostsRevokeCmd(g), newHostsLabelCmd(g), newHostsWindowsCmd(g))
	return cmd
}

func newHostsListCmd(g *globals) *cobra.Command {
	var osFilter, stale, reboot, search string
	var labels []string
	var paging pagingFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List hosts (filters: --os, --stale, --reboot-required, --label)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if osFilter != "" {
				q.Set("os", osFilter)
			}
			for name, v := range map[string]string{"stale": stale, "reboot_required": reboot} {
				if v == "" {
					continue
				}
				if _, err := strconv.ParseBool(v); err != nil {
					return fmt.Errorf("--%s %q: use true or false", strings.ReplaceAll(name, "_", "-"), v)
				}
				q.Set(name, v)
			}
			for _, l := range labels {
				q.Add("label", l)
			}
			if search != "" {
				q.Set("q", search)
			}
			limit, err := paging.max()
			if err != nil {
				return err
			}
			hosts, total, err := listPages[api.Host](cmd.Context(), c, "/api/v1/hosts", q, limit)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), hosts)
			}
			now := time.Now()
			t := newTable(cmd.OutOrStdout(), "HOSTNAME", "OS", "KERNEL", "PACKAGES", "UPDATES", "FINDINGS", "REBOOT", "LAST SEEN", "STATE", "ID")
			for _, h := range hosts {
				t.row(h.Hostname, osName(h), h.Kernel, strconv.Itoa(h.PackageCount), strconv.Itoa(h.UpdateCount), strconv.Itoa(h.OpenFindings),
					yesNo(h.RebootRequired), ago(h.LastSeenAt, now), hostState(h), h.ID)
			}
			if err := t.flush(); err != nil {
				return err
			}
			showing(cmd.ErrOrStderr(), g.output, len(hosts), total, "hosts")
			return nil
		},
	}
	paging.add(cmd, 100, "hosts")
	f := cmd.Flags()
	f.StringVar(&osFilter, "os", "", `OS id, or id and version ("ubuntu", "ubuntu 22.04")`)
	f.StringVar(&stale, "stale", "", "true: only hosts silent for 3 check-in intervals; false: only fresh ones")
	f.StringVar(&reboot, "reboot-required", "", "true or false")
	f.StringArrayVar(&labels, "label", nil, "key=value (repeatable; all must match)")
	f.StringVar(&search, "search", "", "hostname contains")
	return cmd
}

func osName(h api.Host) string {
	if h.OS.PrettyName != "" {
		return h.OS.PrettyName
	}
	return strings.TrimSpace(h.OS.ID + " " + h.OS.VersionID)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func hostState(h api.Host) string {
	switch {
	case h.Revoked:
		return "revoked"
	case h.Stale:
		return "stale"
	}
	return "ok"
}

// findHost connects to the server and finds the host ref names (its ID or
// hostname).
func (g *globals) findHost(ctx context.Context, ref string) (*client.Client, api.Host, error) {
	c, err := g.client()
	if err != nil {
		return nil, api.Host{}, err
	}
	h, err := c.FindHost(ctx, ref)
	return c, h, err
}

func newHostsShowCmd(g *globals) *cobra.Command {
	var noPackages bool
	cmd := &cobra.Command{
		Use:   "show HOST",
		Short: "Show a host (by ID or hostname) with its installed packages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.findHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			// The host itself, with what only GET /hosts/{id} carries
			// (its quarantine); FindHost may have found it in a list.
			if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(h.ID), nil, nil, &h); err != nil {
				return err
			}
			var findings api.Page[api.Finding]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(h.ID)+"/findings", nil, nil, &findings); err != nil {
				return err
			}
			var pkgs api.Page[api.Package]
			if !noPackages {
				if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(h.ID)+"/packages", nil, nil, &pkgs); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				if findings.Items == nil {
					findings.Items = []api.Finding{}
				}
				return printJSON(out, struct {
					api.Host
					Findings []api.Finding `json:"findings"`
					Packages []api.Package `json:"packages"`
				}{h, findings.Items, nonNilPkgs(pkgs.Items)})
			}
			kv := newTable(out, "FIELD", "VALUE")
			kv.row("id", h.ID)
			kv.row("hostname", h.Hostname)
			kv.row("os", osName(h))
			kv.row("kernel", h.Kernel)
			kv.row("arch", h.Arch)
			kv.row("addresses", strings.Join(h.Addresses, ", "))
			kv.row("uptime", (time.Duration(h.UptimeSeconds) * time.Second).String())
			kv.row("package format", h.PackageFormat)
			kv.row("packages", strconv.Itoa(h.PackageCount))
			kv.row("updates available", strconv.Itoa(h.UpdateCount))
			kv.row("reboot required", yesNo(h.RebootRequired)+" "+strings.Join(h.RebootReasons, "; "))
			kv.row("services needing restart", strings.Join(h.ServicesNeedingRestart, " "))
			kv.row("labels", joinLabels(h.Labels))
			kv.row("user labels", joinLabels(h.UserLabels))
			kv.row("enrolled", h.EnrolledAt.Format(time.RFC3339))
			kv.row("last seen", h.LastSeenAt.Format(time.RFC3339)+" ("+ago(h.LastSeenAt, time.Now())+")")
			kv.row("state", hostState(h))
			kv.row("certificate expires", h.CertNotAfter.Format(time.RFC3339))
			kv.row("open findings", strconv.Itoa(len(findings.Items)))
			kv.row("quarantine", quarantineState(h.Quarantine))
			if err := kv.flush(); err != nil {
				return err
			}
			if len(findings.Items) > 0 {
				fmt.Fprintln(out)
				if err := printFindings(out, "table", findings.Items, false); err != nil {
					return err
				}
			}
			if noPackages {
				return nil
			}
			fmt.Fprintln(out)
			t := newTable(out, "PACKAGE", "VERSION", "ARCH", "SOURCE", "UPDATE")
			for _, p := range pkgs.Items {
				src := p.Source
				if p.SourceVersion != "" && p.SourceVersion != p.Version {
					src += " (" + p.SourceVersion + ")"
				}
				t.row(p.Name, p.Version, p.Arch, src, p.UpdateAvailable)
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&noPackages, "no-packages", false, "show the host's facts only")
	return cmd
}

func nonNilPkgs(p []api.Package) []api.Package {
	if p == nil {
		return []api.Package{}
	}
	return p
}

func joinLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func newHostsRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke HOST",
		Short: "Revoke a host: its certificate is refused from its next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.findHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/"+url.PathEscape(h.ID)+"/revoke", nil, nil, &h); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), h)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked host %s (%s)\n", h.ID, inert(h.Hostname))
			return nil
		},
	}
}

func newHostsLabelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "label HOST key=value...",
		Short: "Replace a host's user labels (env, location, role, ...); no labels clears them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labels, err := api.ParseLabels(args[1:])
			if err != nil {
				return err
			}
			if labels == nil {
				labels = map[string]string{} // no labels: clear them
			}
			c, h, err := g.findHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "PUT", "/api/v1/hosts/"+url.PathEscape(h.ID)+"/labels", nil, api.SetLabelsRequest{Labels: labels}, &h); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), h)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", inert(h.Hostname), inert(joinLabels(h.UserLabels)))
			return nil
		},
	}
}

// quarantineState describes a host's enforcement quarantine for hosts show.
func quarantineState(q *api.Quarantine) string {
	switch {
	case q == nil:
		return "never"
	case q.Active:
		return fmt.Sprintf("quarantined since %s through hook %s: %s", q.QuarantinedAt.Format(time.RFC3339), inert(q.Hook), inert(q.Reason))
	case q.ReleasedAt != nil:
		return fmt.Sprintf("released %s (%s); quarantined from %s", q.ReleasedAt.Format(time.RFC3339), inert(q.Reason), q.QuarantinedAt.Format(time.RFC3339))
	}
	return "never"
}
