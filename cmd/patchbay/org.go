package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/patchbay/patchbay/internal/api"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/spf13/cobra"
)

// readOrgFiles reads FILE, or every *.yaml/*.yml in DIR, as one
// organisation: lists from several files are concatenated.
func readOrgFiles(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return os.ReadFile(path)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(path, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no *.yaml files", path)
	}
	merged := &policy.Org{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		o, err := policy.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		merged.Teams = append(merged.Teams, o.Teams...)
		merged.Groups = append(merged.Groups, o.Groups...)
		merged.Freezes = append(merged.Freezes, o.Freezes...)
		if len(o.Rings) > 0 {
			if len(merged.Rings) > 0 {
				return nil, fmt.Errorf("%s: rings are defined in more than one file", f)
			}
			merged.Rings = o.Rings
		}
	}
	return policy.Marshal(merged)
}

type applyResult struct {
	Revision int64           `json:"revision"`
	DryRun   bool            `json:"dry_run"`
	Changes  []policy.Change `json:"changes"`
	Warnings []string        `json:"warnings"`
}

func newApplyCmd(g *globals) *cobra.Command {
	var file string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Apply the organisation as code: teams, groups, windows, freezes, policies (all or nothing)",
		Long: `apply sends the YAML (a file, or every *.yaml in a directory) to the server, which validates all of it
and stores it in one step: a file with any error changes nothing, and every error names its field. Applying
the same file twice changes nothing the second time. --dry-run prints the changes without making them.
Objects the file leaves out are deleted only with --prune.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("-f FILE|DIR is required")
			}
			body, err := readOrgFiles(file)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if dryRun {
				q.Set("dry_run", "true")
			}
			if prune {
				q.Set("prune", "true")
			}
			var res applyResult
			if err := c.Do(cmd.Context(), "POST", "/api/v1/org/apply", q, bytes.NewReader(body), &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				return printJSON(out, res)
			}
			for _, ch := range res.Changes {
				line := fmt.Sprintf("%s %s %s", ch.Kind, ch.Object, ch.Name)
				if len(ch.Fields) > 0 {
					line += " (" + strings.Join(ch.Fields, ", ") + ")"
				}
				fmt.Fprintln(out, inert(line))
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", inert(w))
			}
			switch {
			case len(res.Changes) == 0:
				fmt.Fprintln(out, "no changes")
			case dryRun:
				fmt.Fprintf(out, "dry run: %d changes not applied\n", len(res.Changes))
			default:
				fmt.Fprintf(out, "applied: revision %d, %d changes\n", res.Revision, len(res.Changes))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML file or directory of *.yaml files")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes, change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete teams, groups and freezes the file leaves out")
	return cmd
}

func newExportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Write the current organisation as the YAML apply reads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := rawGet(cmd.Context(), c, "/api/v1/org")
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}

// rawGet fetches a non-JSON answer.
func rawGet(ctx context.Context, c *client.Client, path string) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.Do(ctx, http.MethodGet, path, nil, nil, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func newGroupsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "groups", Short: "Groups of hosts with their owners, rings and windows"}
	list := &cobra.Command{
		Use: "list", Short: "List groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page struct {
				Items []groupView `json:"items"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/groups", nil, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "GROUP", "TEAM", "RING", "CRITICALITY", "EXPOSURE", "STAKEHOLDER", "SYSADMIN", "HOSTS")
			for _, v := range page.Items {
				t.row(v.Group.Name, v.Group.Team, v.Group.Ring, fmt.Sprint(v.Group.Criticality), v.Group.Exposure, v.Group.Stakeholder, v.Group.Sysadmin, fmt.Sprint(len(v.Hosts)))
			}
			return t.flush()
		},
	}
	var n int
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a group, its hosts and its next windows", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v groupView
			if err := c.Do(cmd.Context(), "GET", "/api/v1/groups/"+url.PathEscape(args[0]), url.Values{"windows": {fmt.Sprint(n)}}, nil, &v); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				return printJSON(out, v)
			}
			kv := newTable(out, "FIELD", "VALUE")
			kv.row("group", v.Group.Name)
			kv.row("team", v.Group.Team)
			kv.row("ring", v.Group.Ring)
			kv.row("stakeholder", v.Group.Stakeholder)
			kv.row("sysadmin", v.Group.Sysadmin)
			kv.row("hosts", strings.Join(v.Hostnames, ", "))
			if err := kv.flush(); err != nil {
				return err
			}
			fmt.Fprintln(out)
			t := newTable(out, "WINDOW", "START", "END")
			for _, o := range v.NextWindows {
				t.row(o.Window, o.Start.Local().Format(time.RFC3339), o.End.Local().Format(time.RFC3339))
			}
			return t.flush()
		},
	}
	show.Flags().IntVar(&n, "windows", 5, "how many coming windows")
	cmd.AddCommand(list, show)
	return cmd
}

type groupView struct {
	Group       policy.Group `json:"group"`
	Hosts       []string     `json:"hosts"`
	Hostnames   []string     `json:"hostnames"`
	NextWindows []struct {
		Window     string
		Start, End time.Time
	} `json:"next_windows"`
}

func newHostsWindowsCmd(g *globals) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use: "windows HOST", Short: "A host's next maintenance windows (its groups' windows, freezes subtracted)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.findHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var res struct {
				Groups []string `json:"groups"`
				Items  []struct {
					Window    string    `json:"window"`
					Start     time.Time `json:"start"`
					End       time.Time `json:"end"`
					HostStart time.Time `json:"host_start"`
				} `json:"items"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(h.ID)+"/windows", url.Values{"n": {fmt.Sprint(n)}}, nil, &res); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			t := newTable(cmd.OutOrStdout(), "WINDOW", "START", "END", "THIS HOST STARTS")
			for _, o := range res.Items {
				t.row(o.Window, o.Start.Local().Format(time.RFC3339), o.End.Local().Format(time.RFC3339), o.HostStart.Local().Format(time.RFC3339))
			}
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&n, "n", 5, "how many windows")
	return cmd
}

func newCalendarsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "calendars", Short: "Secret, revocable iCalendar URLs of a team's or group's patch calendar"}
	create := &cobra.Command{
		Use: "create team|group NAME", Short: "Create a calendar URL to subscribe to (shown once)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v struct {
				ID  string `json:"id"`
				URL string `json:"url"`
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/calendars", nil, map[string]string{"scope": args[0], "name": args[1]}, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.URL)
			fmt.Fprintf(cmd.ErrOrStderr(), "calendar %s; the URL is the secret, shown only now; revoke with: patchbay calendars revoke %s\n", v.ID, v.ID)
			return nil
		},
	}
	list := listCmd(g, "list", "List calendar URLs (not their secrets)", "/api/v1/calendars",
		[]string{"ID", "SCOPE", "NAME", "CREATED BY", "CREATED AT", "REVOKED AT"}, func(c api.Calendar) []string {
			return []string{c.ID, c.Scope, c.Name, c.CreatedBy, c.CreatedAt.Format(time.RFC3339), orDash(c.RevokedAt)}
		})
	revoke := postCmd(g, "revoke ID", "Revoke a calendar URL", "/api/v1/calendars/%s/revoke", nil,
		func(id string, _ struct{}) string { return "calendar URL " + id + " revoked" })
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newExceptionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "exceptions", Short: "Risk acceptances: request, approve (by another person), revoke; they expire"}
	var req struct {
		Team          string `json:"team"`
		Advisory      string `json:"advisory,omitempty"`
		Package       string `json:"package,omitempty"`
		Host          string `json:"host,omitempty"`
		Group         string `json:"group,omitempty"`
		Justification string `json:"justification"`
		Expires       string `json:"expires"`
	}
	request := &cobra.Command{
		Use: "request", Short: "Request an exception for findings selected by advisory, package, host and/or group", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v api.Exception
			if err := c.Do(cmd.Context(), "POST", "/api/v1/exceptions", nil, req, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert(exceptionLine(v)))
			if v.State == "pending" {
				fmt.Fprintln(cmd.OutOrStdout(), "another person approves it with: patchbay exceptions approve "+v.ID)
			}
			return nil
		},
	}
	f := request.Flags()
	f.StringVar(&req.Team, "team", "", "team the exception belongs to (default: the group's)")
	f.StringVar(&req.Advisory, "advisory", "", "advisory ID")
	f.StringVar(&req.Package, "package", "", "package name")
	f.StringVar(&req.Host, "host", "", "host ID or hostname")
	f.StringVar(&req.Group, "group", "", "group name")
	f.StringVar(&req.Justification, "justification", "", "why the risk is accepted (required)")
	f.StringVar(&req.Expires, "expires", "", "expiry: RFC 3339 time or duration such as 720h (required)")
	list := listCmd(g, "list", "List exceptions", "/api/v1/exceptions", exceptionHeader, exceptionRow)
	say := func(_ string, e api.Exception) string { return exceptionLine(e) }
	approve := postCmd(g, "approve ID", "Approve an exception (someone other than the requester)", "/api/v1/exceptions/%s/approve", nil, say)
	revoke := postCmd(g, "revoke ID", "Revoke an exception", "/api/v1/exceptions/%s/revoke", nil, say)
	cmd.AddCommand(request, list, approve, revoke)
	return cmd
}

// listCmd prints the items of a list endpoint: a table of columns, or the
// items as JSON.
func listCmd[T any](g *globals, use, short, path string, header []string, row func(T) []string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[T]
			if err := c.Do(cmd.Context(), "GET", path, nil, nil, &page); err != nil {
				return err
			}
			if page.Items == nil {
				page.Items = []T{}
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), header...)
			for _, it := range page.Items {
				t.row(row(it)...)
			}
			return t.flush()
		},
	}
}

// postCmd posts to pathFmt (with the ID argument) and prints the answer
// as JSON, or in table mode the line say makes of it.
func postCmd[T any](g *globals, use, short, pathFmt string, body func() any, say func(id string, v T) string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var in any
			if body != nil {
				in = body()
			}
			var v T
			if err := c.Do(cmd.Context(), "POST", fmt.Sprintf(pathFmt, url.PathEscape(args[0])), nil, in, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert(say(args[0], v)))
			return nil
		},
	}
}

// exceptionLine is an exception in one line.
func exceptionLine(e api.Exception) string {
	var what []string
	for _, kv := range [][2]string{{"advisory", e.Advisory}, {"package", e.Package}, {"host", e.Host}, {"group", e.Group}} {
		if kv[1] != "" {
			what = append(what, kv[0]+" "+kv[1])
		}
	}
	return fmt.Sprintf("exception %s: %s (team %s; %s; expires %s)", e.ID, e.State, e.Team, strings.Join(what, ", "),
		e.ExpiresAt.Format(time.RFC3339))
}

func exceptionRow(e api.Exception) []string {
	return []string{e.ID, e.State, e.Team, e.Advisory, e.Package, e.Host, e.Group, e.RequestedBy, e.ApprovedBy, e.ExpiresAt.Format(time.RFC3339)}
}

var exceptionHeader = []string{"ID", "STATE", "TEAM", "ADVISORY", "PACKAGE", "HOST", "GROUP", "REQUESTED BY", "APPROVED BY", "EXPIRES AT"}

// orDash is t in RFC 3339, or "-".
func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
