package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/scan"
	"github.com/spf13/cobra"
)

func newScanCmd() *cobra.Command {
	var root, feeds, cacheDir string
	var crit int
	var internet, noCache, noUpdates bool
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Inventory this host (or an image under --root) and print its findings from local feeds, with no server",
		Long: `scan reads the host's packages like the agent does, reads every feed under --feeds (OSV directories,
zips or records, Alpine secdb JSON, CISA KEV JSON/CSV, EPSS CSV), and prints the findings ranked by
priority. Parsed feeds are cached under --cache-dir, keyed by the feed files' names, sizes and times.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if feeds == "" {
				return errors.New("--feeds DIR is required")
			}
			output, _ := cmd.Flags().GetString("output")
			ctx := cmd.Context()
			start := time.Now()
			snap, err := inventory.Collector{Root: root, Runner: inventory.ExecRunner{}, Now: time.Now}.Collect(ctx)
			if err != nil {
				return err
			}
			for _, p := range snap.Problems {
				fmt.Fprintln(cmd.ErrOrStderr(), "inventory:", p)
			}
			if noCache {
				cacheDir = ""
			}
			f, cached, err := scan.LoadFeeds(ctx, feeds, cacheDir)
			if err != nil {
				return err
			}
			for _, r := range f.Rejected {
				fmt.Fprintf(cmd.ErrOrStderr(), "feed: rejected %s: %s\n", inert(r.Record), inert(r.Reason))
			}
			opt := scan.Options{Criticality: crit, InternetFacing: internet}
			if !noUpdates {
				opt.Updates = localUpdates(ctx, snap.Facts.PackageFormat, root)
			}
			found, err := scan.Scan(snap, f, opt, time.Now())
			if err != nil {
				return err
			}
			src := "read"
			if cached {
				src = "from cache"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d packages, %d advisories (%s), %d findings in %s\n",
				snap.Facts.Hostname, len(snap.Packages), len(f.Advisories), src, len(found), time.Since(start).Round(time.Millisecond))
			out := cmd.OutOrStdout()
			if output == "json" {
				if found == nil {
					found = []scan.Finding{}
				}
				return printJSON(out, struct {
					Host     string         `json:"host"`
					OS       inventory.OS   `json:"os"`
					Packages int            `json:"packages"`
					Findings []scan.Finding `json:"findings"`
				}{snap.Facts.Hostname, snap.Facts.OS, len(snap.Packages), found})
			}
			t := newTable(out, "PRIORITY", "SEVERITY", "SSVC", "KEV", "PACKAGE", "INSTALLED", "FIXED", "FIX AVAILABLE", "ADVISORY", "CVES", "DUE")
			for _, x := range found {
				kev := ""
				if x.KEV {
					kev = "KEV"
				}
				fixed := x.FixedVersion
				if fixed == "" {
					fixed = "(no fix yet)"
				}
				t.row(strconv.FormatFloat(x.Priority, 'f', 1, 64), x.Severity, x.SSVC, kev, x.Package, x.InstalledVersion, fixed,
					yesNo(x.FixAvailable), x.AdvisoryID, strings.Join(x.CVEs, ","), x.DueAt.Format("2006-01-02"))
			}
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&root, "root", "/", "inventory the image mounted here instead of this machine")
	fl.StringVar(&feeds, "feeds", "", "directory of feeds")
	fl.StringVar(&cacheDir, "cache-dir", defaultCacheDir(), "where parsed feeds are cached")
	fl.BoolVar(&noCache, "no-cache", false, "read the feeds without the cache")
	fl.IntVar(&crit, "criticality", 0, "host criticality 1–5 for the priority (default: 3)")
	fl.BoolVar(&internet, "internet-facing", false, "the host is reachable from the internet")
	fl.BoolVar(&noUpdates, "no-updates", false, "do not ask the package manager which fixes are available")
	return cmd
}

func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "patchbay")
	}
	return filepath.Join(os.TempDir(), "patchbay-cache")
}

// localUpdates asks the host's package manager what it offers; nothing
// when it is missing.
func localUpdates(ctx context.Context, format inventory.Format, root string) map[string]string {
	if format == "" {
		return nil
	}
	us, err := pkgmgr.Manager{Format: format, Root: root, Runner: pkgmgr.ExecRunner{}}.AvailableUpdates(ctx)
	if err != nil {
		return nil
	}
	m := make(map[string]string, 2*len(us))
	for _, u := range us {
		m[u.Name+":"+u.Arch] = u.Version
		if _, ok := m[u.Name]; !ok {
			m[u.Name] = u.Version
		}
	}
	return m
}
