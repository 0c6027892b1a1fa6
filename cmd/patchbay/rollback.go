package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

// rollbackCommand is `changes rollback ID [--host H]... [--wave RING]`:
// the whole change by default, which stops forward dispatch for good; the
// named hosts or ring's hosts otherwise, which halts the change until
// someone resumes it or rolls it all back.
func rollbackCommand(g *globals) *cobra.Command {
	var hosts []string
	var wave, reason string
	cmd := &cobra.Command{
		Use:   "rollback ID [--host HOST]... [--wave RING]",
		Short: "Roll back a whole change, or some hosts or a wave of it (which halts it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(hosts) > 0 && wave != "" {
				return fmt.Errorf("give --host or --wave, not both")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var body any
			if len(hosts) > 0 || wave != "" || reason != "" {
				body = struct {
					Hosts  []string `json:"hosts"`
					Wave   string   `json:"wave"`
					Reason string   `json:"reason"`
				}{hosts, wave, reason}
			}
			var v changeView
			if err := c.Do(cmd.Context(), "POST", "/api/v1/changes/"+url.PathEscape(args[0])+"/rollback", nil, body, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inert(changeLine(args[0], v)))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "roll back only this host, by ID or hostname (repeatable); the change halts")
	cmd.Flags().StringVar(&wave, "wave", "", "roll back the hosts of this ring; the change halts")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the change's history")
	return cmd
}
