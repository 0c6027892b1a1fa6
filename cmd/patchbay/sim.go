package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/sim"
	"github.com/spf13/cobra"
)

func newSimCmd() *cobra.Command {
	cfg := sim.Config{Hosts: 10, Packages: 1000, Interval: 60 * time.Second, Changes: 3, Concurrency: 16, Seed: 1}
	var dataDir string
	var fleets []string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated fleet against a server: real protocol, real package lists (for load tests and demos)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Server, _ = cmd.Flags().GetString("server")
			cfg.CAFile, _ = cmd.Flags().GetString("ca")
			for _, f := range fleets {
				n, token, ok := strings.Cut(f, ":")
				hosts, err := strconv.Atoi(n)
				if !ok || err != nil || hosts < 1 {
					return fmt.Errorf("--fleet %q: give HOSTS:TOKEN, e.g. 100:PBE1.SECRET.FINGERPRINT", f)
				}
				cfg.Fleets = append(cfg.Fleets, sim.Fleet{Hosts: hosts, EnrollToken: token})
			}
			if cfg.EnrollToken == "" && len(cfg.Fleets) == 0 && !stateExists(cfg.StateFile) {
				return errors.New("--enroll-token is required: create one with `patchbay enroll-token create`")
			}
			if dataDir == "" {
				dataDir = findSharedInventories()
			}
			bases, err := sim.LoadBases(dataDir)
			if err != nil {
				return fmt.Errorf("%w (point --inventories at shared/data/inventories/package-lists)", err)
			}
			cfg.Bases = bases
			cfg.Logger = newLogger(os.Stderr)
			rep, err := sim.Run(cmd.Context(), cfg)
			fmt.Fprintln(cmd.OutOrStdout(), rep)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.EnrollToken, "enroll-token", os.Getenv("PATCHBAY_ENROLL_TOKEN"), "enrollment token with room for --hosts hosts")
	f.IntVar(&cfg.Hosts, "hosts", cfg.Hosts, "number of simulated hosts")
	f.IntVar(&cfg.Packages, "packages", cfg.Packages, "packages per host (real lists padded with derived names)")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "check-in interval of each host")
	f.IntVar(&cfg.Changes, "changes", cfg.Changes, "packages changed per host between check-ins")
	f.DurationVar(&cfg.Duration, "duration", 0, "how long to run delta check-ins after the fleet is up (0: enroll and report once)")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "enrollments and full reports in flight")
	f.StringArrayVar(&fleets, "fleet", nil, "HOSTS:TOKEN: enroll HOSTS hosts with this token (repeatable, in order; replaces --hosts and --enroll-token), to give parts of the fleet different labels")
	f.BoolVar(&cfg.Jobs, "jobs", false, "run the signed jobs the server sends (installs change the simulated inventory)")
	f.StringVar(&cfg.StateFile, "state", "", "FILE keeping the enrolled fleet (keys, certificates, host IDs, inventory seeds; private, 0600): a run resumes the hosts it holds without enrolling them, and saves the fleet when it is up and at the end")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the hosts' package sets (a --state file keeps the one it was made with)")
	f.StringVar(&dataDir, "inventories", "", "directory of trivy-*.json package lists (default: shared/data/inventories/package-lists found above the working directory)")
	return cmd
}

// stateExists says a --state file is there to resume (a resumed fleet
// needs no enrollment token unless it grows).
func stateExists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// findSharedInventories looks for shared/data beside the checkout, as the
// project's machines lay it out.
func findSharedInventories() string {
	dir, _ := os.Getwd()
	for range 5 {
		p := filepath.Join(dir, "..", "shared", "data", "inventories", "package-lists")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return filepath.Join("..", "shared", "data", "inventories", "package-lists")
}
