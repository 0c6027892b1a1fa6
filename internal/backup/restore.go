package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Limits on what an archive may hold, so a foreign file cannot fill the
// disk before it is found out.
const (
	maxManifestBytes = 1 << 20
	maxFiles         = 256
)

// Restore unpacks the archive r into dir, which must be empty or not
// exist (it is created with mode 0700). Every file is checked against the
// manifest (name, size, SHA-256) and the manifest against this code's
// format version before anything appears in dir: the files are written
// to a private work directory inside dir and moved into place only when
// the whole archive checked out.
func Restore(r io.Reader, dir string) (Manifest, error) {
	if err := emptyDir(dir); err != nil {
		return Manifest{}, err
	}
	work, err := os.MkdirTemp(dir, ".restore-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(work)
	m, err := unpack(r, work)
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	for _, f := range m.Files {
		if err := os.Chmod(filepath.Join(work, f.Name), f.Mode); err != nil {
			return Manifest{}, fmt.Errorf("restore: %w", err)
		}
		if err := os.Rename(filepath.Join(work, f.Name), filepath.Join(dir, f.Name)); err != nil {
			return Manifest{}, fmt.Errorf("restore: %w", err)
		}
	}
	return m, syncDir(dir)
}

// Check reads the whole archive and verifies it as Restore would, without
// writing anything.
func Check(r io.Reader) (Manifest, error) {
	return unpack(r, "")
}

// emptyDir makes dir if it is missing and refuses one with anything in it.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("restore: %s is not empty (%d entries, such as %s): restore only into a new or empty directory, then point the server's --data-dir at it", dir, len(entries), entries[0].Name())
	}
	return nil
}

// unpack reads the manifest and every file, checking each; with a work
// directory it writes the files there.
func unpack(r io.Reader, work string) (Manifest, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, fmt.Errorf("not a Patchbay backup (not gzip): %w", err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil || h.Name != manifestName {
		return Manifest{}, errors.New("not a Patchbay backup: the archive does not start with manifest.json")
	}
	mb, err := io.ReadAll(io.LimitReader(tr, maxManifestBytes+1))
	if err != nil {
		return Manifest{}, err
	}
	if len(mb) > maxManifestBytes {
		return Manifest{}, errors.New("manifest.json is too large")
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest.json: %w", err)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Name] = f
	}
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("archive: %w", err)
		}
		f, ok := want[h.Name]
		if !ok || seen[h.Name] || h.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("archive holds %q, which its manifest does not list (once, as a file)", h.Name)
		}
		seen[h.Name] = true
		if err := copyChecked(tr, f, work); err != nil {
			return Manifest{}, err
		}
	}
	for _, f := range m.Files {
		if !seen[f.Name] {
			return Manifest{}, fmt.Errorf("archive lacks %s, which its manifest lists: the archive is cut short", f.Name)
		}
	}
	return m, nil
}

func (m Manifest) validate() error {
	if m.Format != Format {
		return fmt.Errorf("not a Patchbay backup: manifest format %q", m.Format)
	}
	if m.Version < 1 || m.Version > Version {
		return fmt.Errorf("backup format version %d: this patchbay reads versions up to %d; restore it with the patchbay that made it, or a newer one", m.Version, Version)
	}
	if m.Database != "" && m.Database != "sqlite" {
		return fmt.Errorf("manifest: unknown database %q", m.Database)
	}
	if len(m.Files) > maxFiles {
		return fmt.Errorf("manifest lists %d files, more than %d", len(m.Files), maxFiles)
	}
	names := map[string]bool{}
	for _, f := range m.Files {
		// Plain names only: nothing may land outside the directory.
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." || f.Name[0] == '.' || names[f.Name] {
			return fmt.Errorf("manifest lists the file name %q: only plain, distinct names are allowed", f.Name)
		}
		names[f.Name] = true
		if f.Mode&^0o644 != 0 {
			return fmt.Errorf("manifest gives %s mode %v: at most 0644", f.Name, f.Mode)
		}
		if f.Size < 0 || len(f.SHA256) != 64 {
			return fmt.Errorf("manifest entry %s: bad size or hash", f.Name)
		}
	}
	if (m.Database == "sqlite") != names[DatabaseFile] {
		return fmt.Errorf("manifest: database %q but %s listed: %t", m.Database, DatabaseFile, names[DatabaseFile])
	}
	return nil
}

// copyChecked reads one file (at most its manifest size, plus one byte to
// see more) and compares its size and hash with the manifest.
func copyChecked(r io.Reader, f File, work string) error {
	h := sha256.New()
	w := io.Writer(h)
	var out *os.File
	if work != "" {
		var err error
		out, err = os.OpenFile(filepath.Join(work, f.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	n, err := io.Copy(w, io.LimitReader(r, f.Size+1))
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if n != f.Size {
		return fmt.Errorf("%s holds %d bytes, its manifest says %d: the archive is damaged", f.Name, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s has SHA-256 %s, its manifest says %s: the archive is damaged or was altered", f.Name, got, f.SHA256)
	}
	if out != nil {
		if err := out.Sync(); err != nil {
			return err
		}
		return out.Close()
	}
	return nil
}
