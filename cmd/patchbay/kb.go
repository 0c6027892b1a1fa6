package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/patchbay/patchbay/internal/client"
	"github.com/spf13/cobra"
)

// changesExtra adds sign-off, retrospective, notes and evidence to `changes`.
func changesExtra(g *globals, cmd *cobra.Command) {
	var group, problem, symptoms string
	var ok bool
	signoff := &cobra.Command{
		Use: "signoff ID --group G (--ok | --problem TEXT)", Short: "As the group's stakeholder: confirm the systems work, or report a problem (opens a knowledge-base draft)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ok == (problem != "") {
				return fmt.Errorf("give --ok or --problem TEXT")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var v map[string]any
			body := map[string]any{"group": group, "ok": ok, "problem": problem, "symptoms": symptoms}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes/"+url.PathEscape(args[0])+"/signoff", nil, body, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	signoff.Flags().StringVar(&group, "group", "", "the group you sign off for")
	signoff.Flags().BoolVar(&ok, "ok", false, "the systems work")
	signoff.Flags().StringVar(&problem, "problem", "", "what does not work")
	signoff.Flags().StringVar(&symptoms, "symptoms", "", "how it shows")
	retro := &cobra.Command{
		Use: "retrospective ID", Short: "A change's retrospective: timeline, figures, notes and action items", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return getAndPrint(cmd, g, "/api/v1/changes/"+url.PathEscape(args[0])+"/retrospective")
		},
	}
	var kind string
	note := &cobra.Command{
		Use: "note ID TEXT", Short: "Add a note (or --kind action: an action item) to a change's retrospective", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v map[string]any
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes/"+url.PathEscape(args[0])+"/retrospective", nil,
				map[string]string{"kind": kind, "text": args[1]}, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	note.Flags().StringVar(&kind, "kind", "note", "note or action")
	evidence := &cobra.Command{
		Use: "evidence ID", Short: "The audit evidence pack of a change (request, approvals, plan, results, sign-offs, audit entries) as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v any
			if err := c.Do(cmd.Context(), "GET", "/api/v1/changes/"+url.PathEscape(args[0])+"/evidence", nil, nil, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	cmd.AddCommand(signoff, retro, note, evidence)
}

func getAndPrint(cmd *cobra.Command, g *globals, path string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var v any
	if err := c.Do(cmd.Context(), "GET", path, nil, nil, &v); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), v)
}

func newKBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "kb", Short: "Knowledge base of problems met after patching"}
	var pkg string
	list := &cobra.Command{
		Use: "list", Short: "List entries (--package NAME)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page struct {
				Items []map[string]any `json:"items"`
			}
			q := url.Values{}
			if pkg != "" {
				q.Set("package", pkg)
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/kb", q, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "STATUS", "TITLE", "PACKAGES", "UPDATED")
			for _, e := range page.Items {
				b, _ := json.Marshal(e["packages"])
				t.row(fmt.Sprint(e["id"]), fmt.Sprint(e["status"]), fmt.Sprint(e["title"]), string(b), fmt.Sprint(e["updated_at"]))
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&pkg, "package", "", "only entries about this package")
	show := &cobra.Command{
		Use: "show ID", Short: "Show an entry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return getAndPrint(cmd, g, "/api/v1/kb/"+url.PathEscape(args[0]))
		},
	}
	var file string
	put := &cobra.Command{
		Use: "put -f FILE.json", Short: "Create or update an entry from JSON (title, problem, symptoms, fix, packages, distro, status; id to update)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			method, path := "POST", "/api/v1/kb"
			if id, ok := e["id"].(string); ok && id != "" {
				method, path = "PUT", "/api/v1/kb/"+url.PathEscape(id)
			}
			var v any
			if err := c.Do(cmd.Context(), method, path, nil, e, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	put.Flags().StringVarP(&file, "file", "f", "", "JSON file")
	cmd.AddCommand(list, show, put)
	return cmd
}

func newReportCmd(g *globals) *cobra.Command {
	var from, to, team, group, ring, severity, format string
	cmd := &cobra.Command{
		Use: "report", Short: "KPI and compliance report for a period: JSON, CSV (formula-safe) or printable HTML", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"format": {format}}
			for k, v := range map[string]string{"from": from, "to": to, "team": team, "group": group, "ring": ring, "severity": severity} {
				if v != "" {
					q.Set(k, v)
				}
			}
			b, err := rawGet(cmd.Context(), c, "/api/v1/report?"+q.Encode())
			if err != nil {
				return err
			}
			if format == "json" {
				var v any
				if err := json.Unmarshal(b, &v); err == nil {
					return printJSON(cmd.OutOrStdout(), v)
				}
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "first day YYYY-MM-DD (default: 30 days ago)")
	f.StringVar(&to, "to", "", "last day YYYY-MM-DD (default: today)")
	f.StringVar(&team, "team", "", "only this team")
	f.StringVar(&group, "group", "", "only this group")
	f.StringVar(&ring, "ring", "", "only this ring")
	f.StringVar(&severity, "severity", "", "only findings of this severity")
	f.StringVar(&format, "format", "json", "json, csv or html")
	return cmd
}

func newRetrospectivesCmd(g *globals) *cobra.Command {
	var team, month string
	return &cobra.Command{
		Use: "retrospectives", Short: "Retrospectives of completed changes (--team, --month YYYY-MM for the cycle view)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if team != "" {
				q.Set("team", team)
			}
			if month != "" {
				q.Set("month", month)
			}
			return getAndPrint(cmd, g, "/api/v1/retrospectives?"+q.Encode())
		},
	}
}

func newLoginCmd(g *globals) *cobra.Command {
	var stdin bool
	cmd := &cobra.Command{
		Use: "login USERNAME", Short: "Sign in with a password (read from standard input) and print a 12-hour session token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !stdin {
				return fmt.Errorf("pass the password on standard input with --password-stdin")
			}
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read password: %w", err)
			}
			c, err := client.New(g.server, "", g.caFile())
			if err != nil {
				return err
			}
			var tok struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expires_at"`
			}
			body := map[string]string{"username": args[0], "password": strings.TrimRight(line, "\r\n")}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/auth/login", nil, body, &tok); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "session token valid until %s; use it with --token or PATCHBAY_TOKEN\n", tok.ExpiresAt)
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newEmergencyStopCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use: "emergency-stop", Short: "Halt every running change now; nothing is dispatched until a second user runs `emergency-stop release`", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v any
			if err := c.Do(cmd.Context(), "POST", "/api/v1/emergency-stop", nil, map[string]string{"reason": reason}, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (shown in every halted change's history)")
	cmd.AddCommand(&cobra.Command{
		Use: "release", Short: "Release the emergency stop (a user other than the one who pulled it)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var v any
			if err := c.Do(cmd.Context(), "POST", "/api/v1/emergency-stop/release", nil, nil, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	})
	return cmd
}
