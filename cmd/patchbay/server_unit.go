package main

import (
	"fmt"

	"github.com/patchbay/patchbay/deploy"
	"github.com/spf13/cobra"
)

func newServerUnitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unit",
		Short: "Print the server's systemd unit (deploy/patchbay-server.service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), deploy.ServerUnit)
			return err
		},
	}
}

func newServerExampleConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "example-config",
		Short: "Print an example " + DefaultServerConfig + " (deploy/server.yaml)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), deploy.ServerConfig)
			return err
		},
	}
}
