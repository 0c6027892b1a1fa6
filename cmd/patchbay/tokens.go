package main

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newEnrollTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "enroll-token", Short: "Create, list and revoke enrollment tokens"}
	var req api.CreateEnrollTokenRequest
	var labels []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an enrollment token (printed once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.Labels, err = api.ParseLabels(labels); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var tok api.EnrollToken
			if err := c.Do(cmd.Context(), "POST", "/api/v1/enroll-tokens", nil, req, &tok); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), tok)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Token)
			limit := "unlimited hosts"
			if tok.MaxHosts > 0 {
				limit = fmt.Sprintf("at most %d host(s)", tok.MaxHosts)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Enrollment token %s: %s, expires %s. It is shown only now.\n",
				tok.ID, limit, tok.ExpiresAt.Local().Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().IntVar(&req.MaxHosts, "max-hosts", 0, "how many hosts may enroll with it (0: unlimited)")
	create.Flags().StringVar(&req.Expires, "expires", "24h", "lifetime, e.g. 30m, 24h, 168h")
	create.Flags().StringArrayVar(&labels, "label", nil, "key=value label given to every host enrolled with it (repeatable)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List enrollment tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.EnrollToken]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/enroll-tokens", nil, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "PREFIX", "USES", "MAX", "EXPIRES", "STATE")
			for _, e := range page.Items {
				t.row(e.ID, e.Prefix, strconv.Itoa(e.Uses), strconv.Itoa(e.MaxHosts), e.ExpiresAt.Local().Format(time.RFC3339), e.State)
			}
			return t.flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an enrollment token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/enroll-tokens/"+url.PathEscape(args[0])+"/revoke", nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked enrollment token %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newTokensCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Create, list and revoke API tokens"}
	var req api.CreateAPITokenRequest
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token (the secret is printed once and stored only hashed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			req.Name = args[0]
			var tok api.APIToken
			if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens", nil, req, &tok); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), tok)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "API token %s (%s, role %s). It is shown only now.\n", tok.ID, tok.Name, tok.Role)
			return nil
		},
	}
	create.Flags().StringVar(&req.Role, "role", "auditor", "role: admin, security, operator, approver, stakeholder, auditor")
	create.Flags().StringVar(&req.Expires, "expires", "", "lifetime, e.g. 720h (default: no expiry)")
	create.Flags().StringVar(&req.User, "user", "", "the user the token acts as (admin only; default: you)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.APIToken]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/tokens", nil, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "NAME", "PREFIX", "ROLE", "USER", "CREATED", "LAST USED", "STATE")
			now := time.Now()
			for _, k := range page.Items {
				state := "active"
				if k.RevokedAt != nil {
					state = "revoked"
				} else if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
					state = "expired"
				}
				last := "never"
				if k.LastUsedAt != nil {
					last = ago(*k.LastUsedAt, now)
				}
				t.row(k.ID, k.Name, k.Prefix, k.Role, cmp.Or(k.User, "-"), k.CreatedAt.Local().Format(time.RFC3339), last, state)
			}
			return t.flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens/"+url.PathEscape(args[0])+"/revoke", nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked API token %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
