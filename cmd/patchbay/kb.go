package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"

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
			var v api.SignOff
			body := struct {
				Group    string `json:"group"`
				OK       bool   `json:"ok"`
				Problem  string `json:"problem,omitempty"`
				Symptoms string `json:"symptoms,omitempty"`
			}{group, ok, problem, symptoms}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes/"+url.PathEscape(args[0])+"/signoff", nil, body, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			if v.OK {
				fmt.Fprintln(cmd.OutOrStdout(), inert(fmt.Sprintf("change %s, group %s: signed off by %s, the systems work", v.ChangeID, v.Group, v.By)))
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), inert(fmt.Sprintf("change %s, group %s: problem reported by %s; draft knowledge-base entry %s (patchbay kb show %s)",
					v.ChangeID, v.Group, v.By, v.KBID, v.KBID)))
			}
			return nil
		},
	}
	signoff.Flags().StringVar(&group, "group", "", "the group you sign off for")
	signoff.Flags().BoolVar(&ok, "ok", false, "the systems work")
	signoff.Flags().StringVar(&problem, "problem", "", "what does not work")
	signoff.Flags().StringVar(&symptoms, "symptoms", "", "how it shows")
	retro := &cobra.Command{
		Use: "retrospective ID", Short: "A change's retrospective: timeline, figures, notes and action items", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var r api.Retrospective
			if err := c.Do(cmd.Context(), "GET", "/api/v1/changes/"+url.PathEscape(args[0])+"/retrospective", nil, nil, &r); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), r)
			}
			return printRetrospective(cmd.OutOrStdout(), r)
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
			var v api.RetroNote
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes/"+url.PathEscape(args[0])+"/retrospective", nil,
				map[string]string{"kind": kind, "text": args[1]}, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert(fmt.Sprintf("%s added to the retrospective of change %s by %s", v.Kind, args[0], v.Author)))
			return nil
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
			var v json.RawMessage // the evidence pack is JSON by design, shown as the server signs it
			if err := c.Do(cmd.Context(), "GET", "/api/v1/changes/"+url.PathEscape(args[0])+"/evidence", nil, nil, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	cmd.AddCommand(signoff, retro, note, evidence)
}

// printRetrospective writes a retrospective as fields, then its timeline,
// sign-offs and notes.
func printRetrospective(w io.Writer, r api.Retrospective) error {
	kv := newTable(w, "FIELD", "VALUE")
	kv.row("change", r.Change)
	kv.row("title", r.Title)
	kv.row("state", r.State)
	kv.row("teams", strings.Join(r.Teams, ", "))
	kv.row("created", r.Created.Format(time.RFC3339))
	kv.row("finished", orDash(r.Finished))
	kv.row("time in approval", r.TimeInApproval)
	kv.row("duration", r.Duration)
	kv.row("time to sign-off", r.TimeToSignOff)
	rate := "-"
	if r.SuccessRate != nil {
		rate = fmt.Sprintf("%.1f%%", *r.SuccessRate*100)
	}
	kv.row("hosts", fmt.Sprintf("%d in %d waves: %d succeeded, %d failed, %d rolled back (success %s)", r.Hosts, r.Waves, r.Succeeded, r.Failed, r.RolledBack, rate))
	kv.row("problems", strconv.Itoa(r.Problems))
	if err := kv.flush(); err != nil {
		return err
	}
	for _, e := range r.Timeline {
		fmt.Fprintln(w, inert(fmt.Sprintf("%s %s %s %s", e.At.Format(time.RFC3339), e.Actor, e.Kind, e.Detail)))
	}
	for _, so := range r.SignOffs {
		verdict := "ok"
		if !so.OK {
			verdict = "problem: " + so.Problem
		}
		fmt.Fprintln(w, inert(fmt.Sprintf("SIGN-OFF %s %s by %s: %s", so.At.Format(time.RFC3339), so.Group, so.By, verdict)))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, inert(fmt.Sprintf("%s %s %s: %s", strings.ToUpper(n.Kind), n.At.Format(time.RFC3339), n.Author, n.Text)))
	}
	return nil
}

// kbPackages is "openssl (3.0.2-0ubuntu1.9), libssl3".
func kbPackages(ps []api.KBPackage) string {
	var out []string
	for _, p := range ps {
		if len(p.Versions) > 0 {
			out = append(out, p.Name+" ("+strings.Join(p.Versions, ", ")+")")
		} else {
			out = append(out, p.Name)
		}
	}
	return strings.Join(out, ", ")
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
			var page api.Page[api.KBEntry]
			q := url.Values{}
			if pkg != "" {
				q.Set("package", pkg)
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/kb", q, nil, &page); err != nil {
				return err
			}
			if page.Items == nil {
				page.Items = []api.KBEntry{}
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "STATUS", "TITLE", "PACKAGES", "UPDATED")
			for _, e := range page.Items {
				t.row(e.ID, e.Status, truncate(e.Title, 60), truncate(kbPackages(e.Packages), 50), e.UpdatedAt.Format("2006-01-02"))
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&pkg, "package", "", "only entries about this package")
	show := &cobra.Command{
		Use: "show ID", Short: "Show an entry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var e api.KBEntry
			if err := c.Do(cmd.Context(), "GET", "/api/v1/kb/"+url.PathEscape(args[0]), nil, nil, &e); err != nil {
				return err
			}
			return printKBEntry(cmd.OutOrStdout(), g.output, e)
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
			var e api.KBEntry
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			method, path := "POST", "/api/v1/kb"
			if e.ID != "" {
				method, path = "PUT", "/api/v1/kb/"+url.PathEscape(e.ID)
			}
			var v api.KBEntry
			if err := c.Do(cmd.Context(), method, path, nil, e, &v); err != nil {
				return err
			}
			return printKBEntry(cmd.OutOrStdout(), g.output, v)
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
				var v json.RawMessage
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
	cmd := &cobra.Command{
		Use: "retrospectives", Short: "Retrospectives of completed changes (--team, --month YYYY-MM for the cycle view)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if team != "" {
				q.Set("team", team)
			}
			if month != "" {
				q.Set("month", month)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.Retrospective]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/retrospectives", q, nil, &page); err != nil {
				return err
			}
			if page.Items == nil {
				page.Items = []api.Retrospective{}
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "CHANGE", "STATE", "TITLE", "TEAMS", "FINISHED", "HOSTS", "SUCCEEDED", "FAILED", "PROBLEMS", "DURATION")
			for _, r := range page.Items {
				t.row(r.Change, r.State, truncate(r.Title, 50), strings.Join(r.Teams, ","), orDash(r.Finished), strconv.Itoa(r.Hosts),
					strconv.Itoa(r.Succeeded), strconv.Itoa(r.Failed), strconv.Itoa(r.Problems), r.Duration)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "only changes touching this team's groups")
	cmd.Flags().StringVar(&month, "month", "", "only changes finished in this month, YYYY-MM")
	return cmd
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
			var v api.EmergencyStop
			if err := c.Do(cmd.Context(), "POST", "/api/v1/emergency-stop", nil, map[string]string{"reason": reason}, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert(fmt.Sprintf("EMERGENCY STOP in force (pulled by %s): %d changes halted, %d undelivered jobs withdrawn; "+
				"another user releases it with: patchbay emergency-stop release", v.By, v.ChangesHalted, v.JobsWithdrawn)))
			return nil
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
			var v api.EmergencyStop
			if err := c.Do(cmd.Context(), "POST", "/api/v1/emergency-stop/release", nil, nil, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert("emergency stop released by "+v.ReleasedBy+"; halted changes stay halted until each is resumed"))
			return nil
		},
	})
	return cmd
}

// printKBEntry writes a knowledge-base entry as fields, or as JSON.
func printKBEntry(w io.Writer, output string, e api.KBEntry) error {
	if output == "json" {
		return printJSON(w, e)
	}
	kv := newTable(w, "FIELD", "VALUE")
	kv.row("id", e.ID)
	kv.row("status", e.Status)
	kv.row("title", e.Title)
	kv.row("packages", kbPackages(e.Packages))
	kv.row("distro", e.Distro)
	kv.row("changes", strings.Join(e.Changes, ", "))
	kv.row("hosts", strconv.Itoa(len(e.Hosts)))
	kv.row("created", e.CreatedAt.Format(time.RFC3339)+" by "+e.CreatedBy)
	kv.row("updated", e.UpdatedAt.Format(time.RFC3339))
	if err := kv.flush(); err != nil {
		return err
	}
	for _, sec := range [][2]string{{"PROBLEM", e.Problem}, {"SYMPTOMS", e.Symptoms}, {"FIX", e.Fix}} {
		if sec[1] != "" {
			fmt.Fprintf(w, "\n%s\n%s\n", sec[0], inertText(sec[1]))
		}
	}
	return nil
}

// inertText is inert per line: the text's own line breaks are kept.
func inertText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = inert(l)
	}
	return strings.Join(lines, "\n")
}
