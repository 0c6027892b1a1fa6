package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Format names a Patchbay backup archive in its manifest; Version is the
// newest manifest version this code writes and reads.
const (
	Format  = "patchbay-backup"
	Version = 1
)

// DatabaseFile is the name of the SQLite snapshot in an archive and in a
// restored data directory (the server's default database path).
const DatabaseFile = "patchbay.db"

const manifestName = "manifest.json"

// Manifest describes an archive. It is the archive's first entry.
type Manifest struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Database is "sqlite" when the archive holds DatabaseFile, "" for a
	// keys-only archive.
	Database      string `json:"database,omitempty"`
	SchemaVersion int64  `json:"schema_version,omitempty"`
	Files         []File `json:"files"`
}

// File is one file of an archive.
type File struct {
	Name   string      `json:"name"`
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
}

// SnapshotFunc writes a consistent copy of the database to path (which
// does not exist yet) and returns its schema version.
type SnapshotFunc func(ctx context.Context, path string) (int64, error)

// Write makes the archive out (which must not exist) from dataDir and,
// unless snapshot is nil (keys only), a database snapshot. The data
// directory's files are read before the snapshot is taken: the audit head
// file only ever trails the database, so the archive's head never claims
// entries its database lacks. Work files go to a private directory beside
// out, which is removed afterwards.
func Write(ctx context.Context, out, dataDir string, snapshot SnapshotFunc, now time.Time) (Manifest, error) {
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("backup: %s exists already; remove it or choose another name", out)
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".patchbay-backup-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)
	m := Manifest{Format: Format, Version: Version, Created: now.UTC()}
	names, err := dataFiles(dataDir)
	if err != nil {
		return Manifest{}, err
	}
	paths := map[string]string{}
	for _, name := range names {
		// Copy first: the files may change (the audit head) while the
		// archive is written.
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		m.Files = append(m.Files, File{Name: name, Mode: safeMode(fi.Mode()), Size: int64(len(b)), SHA256: hashBytes(b)})
		paths[name] = p
	}
	if snapshot != nil {
		p := filepath.Join(work, DatabaseFile)
		v, err := snapshot(ctx, p)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		sum, size, err := hashFile(p)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		m.Database, m.SchemaVersion = "sqlite", v
		m.Files = append(m.Files, File{Name: DatabaseFile, Mode: 0o600, Size: size, SHA256: sum})
		paths[DatabaseFile] = p
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename this removes nothing
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := writeArchive(tmp, m, paths); err != nil {
		tmp.Close()
		return Manifest{}, fmt.Errorf("backup: write %s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	return m, syncDir(filepath.Dir(out))
}

// dataFiles lists the data directory's files that go into a backup: every
// regular file at its top level except the SQLite database and its
// journals (the snapshot stands for them) and temporary files.
func dataFiles(dataDir string) ([]string, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("backup: data directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || name == manifestName ||
			strings.HasSuffix(name, ".db") || strings.HasSuffix(name, "-wal") || strings.HasSuffix(name, "-shm") || strings.HasSuffix(name, "-journal") {
			continue
		}
		names = append(names, name)
	}
	if !slices.Contains(names, "ca.key") {
		return nil, fmt.Errorf("backup: %s holds no ca.key: not a Patchbay data directory (give the server's --data-dir)", dataDir)
	}
	return names, nil
}

// safeMode keeps a file's read bits and its owner's write bit.
func safeMode(m fs.FileMode) fs.FileMode { return m.Perm() & 0o644 }

func writeArchive(w io.Writer, m Manifest, paths map[string]string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mb = append(mb, '\n')
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.Created, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	for _, f := range m.Files {
		if err := addFile(tw, f, paths[f.Name], m.Created); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func addFile(tw *tar.Writer, f File, path string, at time.Time) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: int64(f.Mode), Size: f.Size, ModTime: at, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err == nil && n != f.Size {
		err = fmt.Errorf("%s changed while it was archived", f.Name)
	}
	return err
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
