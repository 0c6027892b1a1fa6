package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/packaging"
	"github.com/spf13/cobra"
)

type packageFlags struct {
	format, token, out, binary, version, releaseKey string
	labels                                          []string
	interval                                        time.Duration
}

func newPackageCmd(g *globals) *cobra.Command {
	var f packageFlags
	cmd := &cobra.Command{
		Use:   "package",
		Short: "Build an agent package (deb, rpm or apk) that enrolls the host it is installed on",
		Long: `Build an agent package (deb, rpm or apk) with the lean patchbay-agent binary, its
systemd unit, /etc/patchbay/agent.yaml holding --server and --enroll-token (removed
by the agent after its first enrollment), the hooks file template and maintainer
scripts that enable and start the service. See docs/agent-install.md.

The package holds the enrollment token: it is written readable by you only;
hand it out as you would the token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("server") && os.Getenv("PATCHBAY_SERVER") == "" {
				return errors.New("--server: give the URL agents reach the server at (the package bakes it in)")
			}
			labels, err := api.ParseLabels(f.labels)
			if err != nil {
				return fmt.Errorf("--label: %w", err)
			}
			bin := f.binary
			if bin == "" {
				if bin, err = defaultAgentBinary(); err != nil {
					return err
				}
			}
			var pinned string
			if f.releaseKey != "" {
				b, err := os.ReadFile(f.releaseKey)
				if err != nil {
					return fmt.Errorf("--release-key: %w", err)
				}
				pinned = string(b)
			}
			path, err := packaging.Build(packaging.Spec{
				ReleaseKey: pinned,
				Format:     f.format, AgentBinary: bin, Version: f.version, Server: g.server,
				EnrollToken: f.token, Labels: labels, CheckinInterval: f.interval, OutDir: f.out,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "type", "", "package format: deb, rpm or apk")
	fl.StringVar(&f.token, "enroll-token", os.Getenv("PATCHBAY_ENROLL_TOKEN"), "enrollment token baked into the package (env PATCHBAY_ENROLL_TOKEN; create one with `patchbay enroll-token create`)")
	fl.StringArrayVar(&f.labels, "label", nil, "host label key=value written to agent.yaml, repeatable")
	fl.DurationVar(&f.interval, "checkin-interval", 0, "check-in interval written to agent.yaml (default: the server's)")
	fl.StringVar(&f.out, "out", ".", "directory to write the package to")
	fl.StringVar(&f.binary, "agent-binary", "", "patchbay-agent executable to ship (default: patchbay-agent next to this patchbay)")
	fl.StringVar(&f.version, "version", "0.0.0", "package version")
	fl.StringVar(&f.releaseKey, "release-key", "", "release.pub from `patchbay release-key create`, pinned at /etc/patchbay/release.pub for verifying agent self-updates")
	_ = cmd.MarkFlagRequired("type")
	_ = cmd.MarkFlagRequired("enroll-token")
	return cmd
}

// defaultAgentBinary is the patchbay-agent beside the running executable.
func defaultAgentBinary() (string, error) {
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return "", fmt.Errorf("find the agent binary: %w; pass --agent-binary", err)
	}
	bin := filepath.Join(filepath.Dir(self), "patchbay-agent")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no agent binary at %s: build one with `CGO_ENABLED=0 go build -ldflags='-s -w' -o %s ./cmd/patchbay-agent` (GOARCH=arm64 for arm64 hosts) or pass --agent-binary PATH", bin, bin)
	}
	return bin, nil
}
