package main

import (
	"fmt"
	"net/url"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Create, list, change the role of and disable users (team roles come from `patchbay apply`)"}
	var req api.CreateUserRequest
	create := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a user with a generated password, printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			req.Username = args[0]
			var u api.User
			if err := c.Do(cmd.Context(), "POST", "/api/v1/users", nil, req, &u); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), u)
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.Password)
			fmt.Fprintf(cmd.ErrOrStderr(), "user %s (role %s) created; the password above is shown only now\n", u.Username, u.Role)
			return nil
		},
	}
	create.Flags().StringVar(&req.Role, "role", "auditor", "fleet-wide role: admin, security, operator, approver, stakeholder, auditor")
	create.Flags().StringVar(&req.Email, "email", "", "e-mail address the email notification channel reaches the user at (optional)")
	email := &cobra.Command{
		Use:   "email USER ADDRESS",
		Short: "Set a user's e-mail address (by username or ID); \"\" removes it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var u api.User
			if err := c.Do(cmd.Context(), "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/email", nil, api.SetEmailRequest{Email: args[1]}, &u); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), u)
			}
			if u.Email == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "user %s has no e-mail address\n", u.Username)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "user %s is reached at %s\n", u.Username, u.Email)
			}
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.User]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/users", nil, nil, &page); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), page.Items)
			}
			t := newTable(cmd.OutOrStdout(), "USERNAME", "ROLE", "CREATED", "STATE", "ID")
			for _, u := range page.Items {
				state := "active"
				if u.DisabledAt != nil {
					state = "disabled"
				}
				t.row(u.Username, u.Role, u.CreatedAt.Format("2006-01-02"), state, u.ID)
			}
			return t.flush()
		},
	}
	role := &cobra.Command{
		Use:   "role USER ROLE",
		Short: "Change a user's fleet-wide role (by username or ID); their sign-in tokens end",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var u api.User
			if err := c.Do(cmd.Context(), "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/role", nil, map[string]string{"role": args[1]}, &u); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), u)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s now has the role %s\n", u.Username, u.Role)
			return nil
		},
	}
	disable := &cobra.Command{
		Use:   "disable USER",
		Short: "Disable a user (by username or ID): no more sign-ins, their sessions end and their API tokens are revoked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/disable", nil, struct{}{}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s disabled\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, role, email, disable)
	return cmd
}
