package advisory

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
)

// Limits on one OSV feed read by ReadOSV.
const (
	MaxFeedSize    = 4 << 30 // bytes of JSON in all records together
	MaxFeedRecords = 2_000_000
)

// ReadOSV reads OSV records from path: a single .json file, a directory
// (every *.json file below it, in lexical order) or a .zip archive such as
// the per-ecosystem all.zip osv.dev publishes. A record that cannot be
// parsed, or that repeats an ID already read with different content and an
// older or equal modified time, is added to Feed.Rejected with its file name and the
// reason; the rest is read. An identical copy of a record already read is
// counted in Feed.Duplicates. ReadOSV fails as a whole only if path cannot be
// read, a limit is exceeded, or ctx is cancelled.
func ReadOSV(ctx context.Context, path string) (Feed, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Feed{}, fmt.Errorf("read OSV feed: %w", err)
	}
	r := osvReader{feed: Feed{Name: filepath.Base(path), Source: SourceOSV}, index: map[string]int{}, names: map[string]string{}}
	switch {
	case info.IsDir():
		err = r.readDir(ctx, path)
	case strings.EqualFold(filepath.Ext(path), ".zip"):
		err = r.readZip(ctx, path)
	default:
		err = r.readFile(path, filepath.Base(path))
	}
	if err != nil {
		return Feed{}, fmt.Errorf("read OSV feed %s: %w", path, err)
	}
	return r.feed, nil
}

type osvReader struct {
	feed  Feed
	index map[string]int    // advisory ID → index in feed.Advisories
	names map[string]string // advisory ID → file or entry it was read from
	total int64
	count int
}

func (r *osvReader) readDir(ctx context.Context, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".json") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			rel = p
		}
		return r.readFile(p, filepath.ToSlash(rel))
	})
}

func (r *osvReader) readFile(p, name string) error {
	f, err := os.Open(p)
	if err != nil {
		// An unreadable file is this record's problem, not the feed's.
		r.reject(name, err.Error())
		return nil
	}
	defer f.Close()
	return r.add(f, name)
}

func (r *osvReader) readZip(ctx context.Context, p string) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := zf.Name
		if strings.HasSuffix(name, "/") || !strings.EqualFold(path.Ext(name), ".json") {
			continue
		}
		// Entries are never written to disk, but a name that would escape
		// an extraction directory marks a hostile archive.
		if !fs.ValidPath(name) || strings.Contains(name, `\`) {
			r.reject(name, "unsafe path in zip archive")
			continue
		}
		if zf.UncompressedSize64 > MaxRecordSize {
			r.reject(name, fmt.Sprintf("record larger than %d bytes", MaxRecordSize))
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			r.reject(name, err.Error())
			continue
		}
		err = r.add(rc, name)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// add parses one record and adds it to the feed or to the rejections. Its
// error is reserved for limits on the feed as a whole.
func (r *osvReader) add(src io.Reader, name string) error {
	r.count++
	if r.count > MaxFeedRecords {
		return fmt.Errorf("more than %d records", MaxFeedRecords)
	}
	cr := &countingReader{r: src}
	adv, err := ParseOSV(cr, name)
	r.total += cr.n
	if r.total > MaxFeedSize {
		return fmt.Errorf("more than %d bytes of records", int64(MaxFeedSize))
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			r.reject(name, pe.Err.Error())
			return nil
		}
		r.reject(name, strings.TrimPrefix(err.Error(), name+": "))
		return nil
	}
	if i, dup := r.index[adv.ID]; dup {
		prev := r.feed.Advisories[i]
		if reflect.DeepEqual(adv, prev) {
			// Feeds copy a record shared by several releases into each
			// release's folder (AlmaLinux does): the same fact, kept once.
			r.feed.Duplicates++
			return nil
		}
		if adv.Modified.After(prev.Modified) {
			r.reject(r.names[adv.ID], fmt.Sprintf("duplicate id %s: superseded by %s, modified later", adv.ID, name))
			r.feed.Advisories[i] = adv
			r.names[adv.ID] = name
		} else {
			r.reject(name, fmt.Sprintf("duplicate id %s: %s is modified as late or later", adv.ID, r.names[adv.ID]))
		}
		return nil
	}
	r.index[adv.ID] = len(r.feed.Advisories)
	r.names[adv.ID] = name
	r.feed.Advisories = append(r.feed.Advisories, adv)
	return nil
}

func (r *osvReader) reject(name, reason string) {
	r.feed.Rejected = append(r.feed.Rejected, Rejection{Record: name, Reason: reason})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
