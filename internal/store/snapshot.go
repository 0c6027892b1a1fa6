package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"syscall"
)

// Snapshot writes a consistent copy of this SQLite database to out, which
// must not exist, with VACUUM INTO: one read transaction, so writers go on
// and the copy holds exactly the commits before it began. It returns the
// copy's schema version. PostgreSQL databases are backed up with pg_dump.
func (s *DB) Snapshot(ctx context.Context, out string) (int64, error) {
	if s.dialect != SQLite {
		return 0, errors.New("snapshot: only SQLite databases; back up PostgreSQL with pg_dump")
	}
	return vacuumInto(ctx, s.db, out)
}

// SnapshotSQLite is Snapshot for the SQLite database file at path, open or
// not in a running server: it opens the file without migrating it and
// refuses a path that holds no database. It also refuses a file another
// user owns: opening a database whose server is stopped creates its
// journal files, which the server's user could then not write.
func SnapshotSQLite(ctx context.Context, path, out string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return 0, fmt.Errorf("snapshot: %s is not a SQLite database", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return 0, fmt.Errorf("snapshot: %s belongs to uid %d, not to this user (uid %d): run the backup as the server's user, e.g. `sudo -u patchbay patchbay backup ...`", path, st.Uid, os.Geteuid())
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return vacuumInto(ctx, db, out)
}

func vacuumInto(ctx context.Context, db *sql.DB, out string) (int64, error) {
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("snapshot: %s exists already", out)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		return 0, fmt.Errorf("snapshot: VACUUM INTO: %w", err)
	}
	if err := os.Chmod(out, 0o600); err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	copyDB, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer copyDB.Close()
	var v int64
	if err := copyDB.QueryRowContext(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("snapshot: read its schema version: %w", err)
	}
	return v, nil
}
