package main

import (
	"fmt"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Create and list users (team roles come from `patchbay apply`)"}
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
			t := newTable(cmd.OutOrStdout(), "USERNAME", "ROLE", "CREATED", "ID")
			for _, u := range page.Items {
				t.row(u.Username, u.Role, u.CreatedAt.Format("2006-01-02"), u.ID)
			}
			return t.flush()
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
