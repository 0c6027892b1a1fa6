package advisory

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
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
	return ReadOSVWith(ctx, path, ReadOptions{})
}

// ReadOptions tune a feed read.
type ReadOptions struct {
	// Stored holds the hex SHA-256 sums of records as stored by an earlier
	// import (Feed.RawSums). A record whose bytes have one of these sums is
	// not parsed: it is counted in Feed.Unchanged, so a re-import costs a
	// hash per record instead of a JSON decode. A second copy of such a
	// record in the same read counts as a duplicate.
	Stored map[string]bool
}

// ReadOSVWith is ReadOSV with options.
func ReadOSVWith(ctx context.Context, path string, opts ReadOptions) (Feed, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Feed{}, fmt.Errorf("read OSV feed: %w", err)
	}
	r := osvReader{feed: Feed{Name: filepath.Base(path), Source: SourceOSV, RawSums: map[string]string{}}, index: map[string]int{},
		names: map[string]string{}, stored: opts.Stored, seenSums: map[string]bool{}}
	r.start()
	switch {
	case info.IsDir():
		err = r.readDir(ctx, path)
	case strings.EqualFold(filepath.Ext(path), ".zip"):
		err = r.readZip(ctx, path)
	default:
		err = r.readFile(path, filepath.Base(path))
	}
	if werr := r.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return Feed{}, fmt.Errorf("read OSV feed %s: %w", path, err)
	}
	return r.feed, nil
}

// osvReader reads records in order on one goroutine, parses them on
// GOMAXPROCS workers (JSON decoding is most of an import's CPU), and adds
// the results to the feed in the order the records were read, so
// duplicate handling and rejections do not depend on scheduling. At most
// parseWindow records are in flight, which bounds the memory held.
type osvReader struct {
	feed  Feed
	index map[string]int    // advisory ID → index in feed.Advisories
	names map[string]string // advisory ID → file or entry it was read from
	total int64
	count int

	stored   map[string]bool // read-only, shared with the workers
	seenSums map[string]bool

	work    chan *parsed // to the workers
	ordered chan *parsed // to the collector, in read order
	done    chan error   // the collector's verdict
	workers sync.WaitGroup
	stop    chan struct{} // closed when the collector gives up
	closers []io.Closer   // archives the workers read from
}

// parsed is one record on its way through the pipeline.
type parsed struct {
	name    string
	data    []byte
	reject  string                        // set by the reader: refused before it was read (not counted)
	readErr error                         // set by the reader: reading it failed (counted)
	open    func() (io.ReadCloser, error) // when set, a worker reads data from it
	size    int64
	sum     string // hex SHA-256 of data
	known   bool   // sum is in ReadOptions.Stored: not parsed
	adv     Advisory
	err     error
	ready   chan struct{}
}

const parseWindow = 256

func (r *osvReader) start() {
	r.work = make(chan *parsed, parseWindow)
	r.ordered = make(chan *parsed, parseWindow)
	r.done = make(chan error, 1)
	r.stop = make(chan struct{})
	for range runtime.GOMAXPROCS(0) {
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			for p := range r.work {
				if p.open != nil {
					p.read()
				}
				if p.reject == "" && p.readErr == nil {
					sum := sha256.Sum256(p.data)
					p.sum = hex.EncodeToString(sum[:])
					if p.known = r.stored[p.sum]; !p.known {
						p.adv, p.err = parseOSVNamed(p.data, p.name)
					}
				}
				p.data = nil
				close(p.ready)
			}
		}()
	}
	go func() {
		var err error
		for p := range r.ordered {
			<-p.ready
			if err != nil {
				continue // drain
			}
			if err = r.add(p); err != nil {
				close(r.stop)
			}
		}
		r.done <- err
	}()
}

// wait ends the pipeline and returns the collector's error.
func (r *osvReader) wait() error {
	close(r.work)
	close(r.ordered)
	r.workers.Wait()
	for _, c := range r.closers {
		c.Close()
	}
	return <-r.done
}

// submit queues one record; its error says the collector gave up.
func (r *osvReader) submit(p *parsed) error {
	p.ready = make(chan struct{})
	select {
	case <-r.stop:
		return errStopped
	case r.ordered <- p:
	}
	r.work <- p
	return nil
}

var errStopped = errors.New("stopped")

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
	_ = r.submit(&parsed{name: name, open: func() (io.ReadCloser, error) { return os.Open(p) }})
	return nil
}

// read opens the record and reads its bytes (at most MaxRecordSize+1), on
// a worker: decompressing and reading are spread like parsing. A record
// that cannot be opened is rejected uncounted; one whose read fails is
// counted and rejected.
func (p *parsed) read() {
	rc, err := p.open()
	p.open = nil
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.reject = err.Error()
		return
	}
	defer rc.Close()
	p.data, err = io.ReadAll(io.LimitReader(rc, MaxRecordSize+1))
	p.size = int64(len(p.data))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		} else {
			err = fmt.Errorf("read %s: %w", p.name, err)
		}
		p.readErr = err
	}
}

func (r *osvReader) readZip(ctx context.Context, p string) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return err
	}
	// The workers open the entries: closed by wait, after them.
	r.closers = append(r.closers, zr)
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-r.stop:
			return nil
		default:
		}
		name := zf.Name
		if strings.HasSuffix(name, "/") || !strings.EqualFold(path.Ext(name), ".json") {
			continue
		}
		// Entries are never written to disk, but a name that would escape
		// an extraction directory marks a hostile archive.
		if !fs.ValidPath(name) || strings.Contains(name, `\`) {
			_ = r.submit(&parsed{name: name, reject: "unsafe path in zip archive"})
			continue
		}
		if zf.UncompressedSize64 > MaxRecordSize {
			_ = r.submit(&parsed{name: name, reject: fmt.Sprintf("record larger than %d bytes", MaxRecordSize)})
			continue
		}
		_ = r.submit(&parsed{name: name, open: zf.Open})
	}
	return nil
}

// parseOSVNamed is ParseOSV on bytes already read.
func parseOSVNamed(data []byte, name string) (Advisory, error) {
	if len(data) > MaxRecordSize {
		return Advisory{}, fmt.Errorf("%s: record larger than %d bytes", name, MaxRecordSize)
	}
	adv, err := parseOSV(data)
	if err != nil {
		return Advisory{}, fmt.Errorf("%s: %w", name, err)
	}
	return adv, nil
}

// add adds one parsed record to the feed or to the rejections, in read
// order. Its error is reserved for limits on the feed as a whole.
func (r *osvReader) add(p *parsed) error {
	name := p.name
	if p.reject != "" {
		r.reject(name, p.reject)
		return nil
	}
	r.count++
	if r.count > MaxFeedRecords {
		return fmt.Errorf("more than %d records", MaxFeedRecords)
	}
	r.total += p.size
	if r.total > MaxFeedSize {
		return fmt.Errorf("more than %d bytes of records", int64(MaxFeedSize))
	}
	if p.known {
		if r.seenSums[p.sum] {
			r.feed.Duplicates++
		} else {
			r.feed.Unchanged++
		}
		r.seenSums[p.sum] = true
		return nil
	}
	if p.sum != "" {
		r.seenSums[p.sum] = true
	}
	adv, err := p.adv, p.err
	if p.readErr != nil {
		err = p.readErr
	}
	if err != nil {
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
			r.feed.RawSums[adv.ID] = p.sum
		} else {
			r.reject(name, fmt.Sprintf("duplicate id %s: %s is modified as late or later", adv.ID, r.names[adv.ID]))
		}
		return nil
	}
	r.index[adv.ID] = len(r.feed.Advisories)
	r.names[adv.ID] = name
	r.feed.RawSums[adv.ID] = p.sum
	r.feed.Advisories = append(r.feed.Advisories, adv)
	return nil
}

func (r *osvReader) reject(name, reason string) {
	r.feed.Rejected = append(r.feed.Rejected, Rejection{Record: name, Reason: reason})
}
