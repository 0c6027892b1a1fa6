package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchbay/patchbay/internal/client"
	"github.com/spf13/cobra"
)

// globals are the flags every CLI verb shares.
type globals struct {
	server string
	token  string
	ca     string
	output string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "patchbay",
		Short:         "Patch management for teams: control server, agent and CLI in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("PATCHBAY_SERVER", "https://127.0.0.1:8443"), "server URL (env PATCHBAY_SERVER)")
	pf.StringVar(&g.token, "token", os.Getenv("PATCHBAY_TOKEN"), "API token (env PATCHBAY_TOKEN; default: ./patchbay-data/admin.token when present)")
	pf.StringVar(&g.ca, "ca", os.Getenv("PATCHBAY_CA"), "server CA certificate (env PATCHBAY_CA; default: ./patchbay-data/ca.crt when present)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(
		newServerCmd(),
		newBackupCmd(),
		newRestoreCmd(),
		newAgentCmd(),
		newUpCmd(),
		newSimCmd(),
		newEnrollTokenCmd(g),
		newTokensCmd(g),
		newHostsCmd(g),
		newFeedsCmd(g),
		newVulnsCmd(g),
		newScanCmd(),
		newUsersCmd(g),
		newApplyCmd(g),
		newExportCmd(g),
		newGroupsCmd(g),
		newCalendarsCmd(g),
		newExceptionsCmd(g),
		newAuditCmd(g),
		newChangesCmd(g),
		newKBCmd(g),
		newReportCmd(g),
		newRetrospectivesCmd(g),
		newLoginCmd(g),
		newEmergencyStopCmd(g),
		newPackageCmd(g),
		newReleaseKeyCmd(),
		newReleaseCmd(g),
		newNotificationsCmd(g),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (hosts, changes, ...) fail on a word that names none of them: cobra
// would print the group's help and exit 0, so `patchbay hosts lst` in a
// script would look like success. Without a word, the help is shown.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.Runnable() || !c.HasSubCommands() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return fmt.Errorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// client builds the API client, falling back to the files a local server
// writes into ./patchbay-data so that the CLI works beside `patchbay up`.
func (g *globals) client() (*client.Client, error) {
	if g.output != "table" && g.output != "json" {
		return nil, fmt.Errorf("-o %q: use table or json", g.output)
	}
	token, ca := g.token, g.ca
	if token == "" {
		if b, err := os.ReadFile(filepath.Join("patchbay-data", "admin.token")); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		return nil, errors.New("no API token: pass --token or set PATCHBAY_TOKEN (a new server writes one to DATA_DIR/admin.token)")
	}
	if ca == "" {
		if _, err := os.Stat(filepath.Join("patchbay-data", "ca.crt")); err == nil {
			ca = filepath.Join("patchbay-data", "ca.crt")
		}
	}
	return client.New(g.server, token, ca)
}

// caFile is --ca, or ./patchbay-data/ca.crt beside a local server.
func (g *globals) caFile() string {
	if g.ca != "" {
		return g.ca
	}
	if _, err := os.Stat(filepath.Join("patchbay-data", "ca.crt")); err == nil {
		return filepath.Join("patchbay-data", "ca.crt")
	}
	return ""
}
