package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/backup"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/spf13/cobra"
)

// serverPaths are the data directory and database a backup reads: from
// --data-dir and --database, or the server's config file.
type serverPaths struct {
	config, dataDir, database string
}

func (p *serverPaths) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.config, "config", "", "the server's config file (e.g. "+DefaultServerConfig+"): read data-dir and database from it")
	f.StringVar(&p.dataDir, "data-dir", "", "the server's data directory (default ./patchbay-data, or the config file's)")
	f.StringVar(&p.database, "database", "", "the server's database URL (default SQLite in the data directory, or the config file's)")
}

// resolve fills what the flags left open from the config file, parsed
// exactly as `patchbay server --config` parses it.
func (p *serverPaths) resolve(cmd *cobra.Command) error {
	if p.config != "" {
		sc := newServerCmd()
		if err := sc.ParseFlags(nil); err != nil {
			return err
		}
		if err := applyServerConfig(sc.Flags(), p.config); err != nil {
			return err
		}
		if !cmd.Flags().Changed("data-dir") {
			p.dataDir = sc.Flags().Lookup("data-dir").Value.String()
		}
		if !cmd.Flags().Changed("database") {
			p.database = sc.Flags().Lookup("database").Value.String()
		}
	}
	if p.dataDir == "" {
		p.dataDir = "./patchbay-data"
	}
	return nil
}

func newBackupCmd() *cobra.Command {
	var (
		paths    serverPaths
		out      string
		keysOnly bool
	)
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent backup of a server (SQLite snapshot and the data directory's keys) while it runs",
		Long: `Write a backup archive (gzip tar, mode 0600) of the server's data directory:
a consistent snapshot of the SQLite database taken while the server runs
(VACUUM INTO), the CA, server and job-signing keys, the admin token and
the audit head, with a manifest of their SHA-256 hashes. Run it on the
server's host as the server's user. On PostgreSQL back the database up with
pg_dump and add --keys-only here (docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if err := paths.resolve(cmd); err != nil {
				return err
			}
			var snap backup.SnapshotFunc
			if !keysOnly {
				dbPath, err := sqlitePath(paths.dataDir, paths.database)
				if err != nil {
					return err
				}
				snap = func(ctx context.Context, to string) (int64, error) { return store.SnapshotSQLite(ctx, dbPath, to) }
			}
			m, err := backup.Write(cmd.Context(), out, paths.dataDir, snap, time.Now())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Backup written to %s (mode 0600)\n", out)
			if m.Database != "" {
				fmt.Fprintf(w, "  database: SQLite snapshot, schema version %d\n", m.SchemaVersion)
			} else {
				fmt.Fprintf(w, "  database: not included (--keys-only)\n")
			}
			fmt.Fprintf(w, "  files: %s\n", fileNames(m))
			fmt.Fprintf(w, "It holds private keys: keep it as safe as the data directory.\n")
			return nil
		},
	}
	paths.addFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "archive to write (must not exist)")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "only the data directory's keys and secrets (for PostgreSQL, beside pg_dump)")
	return cmd
}

// sqlitePath is the SQLite database a backup snapshots, or an error saying
// what to do on PostgreSQL.
func sqlitePath(dataDir, database string) (string, error) {
	switch {
	case database == "":
		return filepath.Join(dataDir, backup.DatabaseFile), nil
	case strings.HasPrefix(database, "sqlite:"):
		return strings.TrimPrefix(database, "sqlite:"), nil
	}
	return "", errors.New("the server's database is PostgreSQL: back it up with pg_dump (docs/operations.md) and the keys with `patchbay backup --keys-only`")
}

func fileNames(m backup.Manifest) string {
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func newRestoreCmd() *cobra.Command {
	var from, dataDir string
	var check bool
	cmd := &cobra.Command{
		Use:   "restore --from FILE --data-dir DIR",
		Short: "Restore a backup into a new, empty data directory (checks the archive's hashes and format first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("--from FILE is required")
			}
			f, err := os.Open(from)
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			defer f.Close()
			w := cmd.OutOrStdout()
			if check {
				m, err := backup.Check(f)
				if err != nil {
					return fmt.Errorf("check %s: %w", from, err)
				}
				fmt.Fprintf(w, "%s is a good backup made %s: %s\n", from, m.Created.Format(time.RFC3339), fileNames(m))
				return nil
			}
			if dataDir == "" {
				return errors.New("--data-dir DIR is required: a new or empty directory to restore into")
			}
			m, err := backup.Restore(f, dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Restored the backup of %s into %s: %s\n", m.Created.Format(time.RFC3339), dataDir, fileNames(m))
			if m.Database == "" {
				fmt.Fprintf(w, "It holds no database: restore the PostgreSQL dump (pg_restore) and start the server with --database.\n")
			}
			fmt.Fprintf(w, "Start the server with --data-dir %s. Agents continue by themselves: each sends a full report at its next check-in,\n", dataDir)
			fmt.Fprintf(w, "and a job the server re-offers that an agent already ran is settled with the agent's earlier result, never run twice.\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "backup archive to restore")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory to restore into: must not exist or be empty")
	cmd.Flags().BoolVar(&check, "check", false, "only verify the archive (manifest version, every file's size and SHA-256); write nothing")
	return cmd
}
