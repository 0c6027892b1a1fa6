package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/api"

	"github.com/spf13/cobra"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The tamper-evident audit trail: list, verify, export"}
	verify := &cobra.Command{
		Use: "verify", Short: "Verify the hash chain and signed checkpoints; names the first edited, deleted, inserted, reordered or truncated entry", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var res struct {
				Entries     int             `json:"entries"`
				Checkpoints int             `json:"checkpoints"`
				OK          bool            `json:"ok"`
				Problem     json.RawMessage `json:"problem"`
				HeadFile    string          `json:"head_file"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/audit/verify", nil, nil, &res); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			if res.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "audit trail intact: %d entries, %d signed checkpoints", res.Entries, res.Checkpoints)
				if res.HeadFile != "" {
					fmt.Fprintf(cmd.OutOrStdout(), ", head matches %s", inert(res.HeadFile))
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			}
			return fmt.Errorf("audit trail damaged: %s", inert(string(res.Problem)))
		},
	}
	var format string
	export := &cobra.Command{
		Use: "export", Short: "Write the audit trail as JSON lines or RFC 5424 syslog lines, for a SIEM", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := rawGet(cmd.Context(), c, "/api/v1/audit/export?"+url.Values{"format": {format}}.Encode())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	export.Flags().StringVar(&format, "format", "jsonl", "jsonl or syslog")
	var from int
	var actor, action, target, since, until string
	var paging pagingFlags
	list := &cobra.Command{
		Use: "list", Short: "List audit entries, oldest first (filters: --actor, --action, --target, --since, --until)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := paging.max()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"from": {strconv.Itoa(from)}}
			for k, v := range map[string]string{"actor": actor, "action": action, "target": target, "since": since, "until": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			es, total, err := listPages[api.AuditEntry](cmd.Context(), c, "/api/v1/audit", q, limit)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), es)
			}
			t := newTable(cmd.OutOrStdout(), "SEQ", "TIME", "ACTOR", "WHAT", "OUTCOME", "ACTION", "TARGET")
			for _, e := range es {
				what := e.Summary
				if what == "" {
					what = e.Action + " " + e.Target
				}
				t.row(strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339), e.Actor, truncate(what, 80), e.Outcome, e.Action, e.Target)
			}
			if err := t.flush(); err != nil {
				return err
			}
			showing(cmd.ErrOrStderr(), g.output, len(es), total, "entries")
			return nil
		},
	}
	f := list.Flags()
	f.IntVar(&from, "from", 1, "first sequence number")
	f.StringVar(&actor, "actor", "", "only entries by this user or token (exact)")
	f.StringVar(&action, "action", "", "only actions containing this, e.g. changes/ or login")
	f.StringVar(&target, "target", "", "only targets containing this, e.g. a change or host ID")
	f.StringVar(&since, "since", "", "only entries at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&until, "until", "", "only entries before this time (RFC 3339, or YYYY-MM-DD: to the end of that day)")
	paging.add(list, 100, "entries")
	cmd.AddCommand(list, verify, export)
	return cmd
}
