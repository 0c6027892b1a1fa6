package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newNotificationsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "notifications", Short: "The notification delivery log: list, retry dead letters, send a test message"}
	var status, channel, kind string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List notifications, newest first (--status pending|delivering|delivered|dead, --channel, --kind)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "channel": channel, "kind": kind} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", strconv.Itoa(limit))
			var page api.NotificationList
			if err := c.Do(cmd.Context(), "GET", "/api/v1/notifications", q, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "CREATED", "EVENT", "RECIPIENT", "CHANNEL", "STATUS", "ATTEMPTS", "LATENCY", "LAST ERROR")
			for _, n := range page.Items {
				latency := ""
				if n.Delivered != nil {
					latency = (time.Duration(n.LatencyMS) * time.Millisecond).String()
				}
				t.row(n.ID, n.Created.UTC().Format(time.RFC3339), n.Kind, n.Recipient+" ("+n.Role+")", n.Channel, n.Status,
					strconv.Itoa(n.Attempts), latency, n.LastError)
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&status, "status", "", "pending, delivering, delivered or dead")
	list.Flags().StringVar(&channel, "channel", "", "only this channel (console, webhook, slack)")
	list.Flags().StringVar(&kind, "kind", "", "only this event, e.g. change.halted")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many (1 to 1000)")
	retry := &cobra.Command{
		Use: "retry ID...", Short: "Send dead-lettered notifications again", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				var n api.Notification
				if err := c.Do(cmd.Context(), "POST", "/api/v1/notifications/"+url.PathEscape(id)+"/retry", nil, nil, &n); err != nil {
					return fmt.Errorf("retry %s: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, next attempt now\n", n.ID, n.Status)
			}
			return nil
		},
	}
	var testChannel string
	test := &cobra.Command{
		Use: "test", Short: "Send a test message to yourself over a channel (--channel; default: every channel)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.NotificationList
			if err := c.Do(cmd.Context(), "POST", "/api/v1/notifications/test", nil, map[string]string{"channel": testChannel}, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			for _, n := range page.Items {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: test message to %s over %s queued; see `patchbay notifications list --kind test`\n", n.ID, n.Recipient, n.Channel)
			}
			return nil
		},
	}
	test.Flags().StringVar(&testChannel, "channel", "", "the channel to test")
	cmd.AddCommand(list, retry, test)
	return cmd
}
