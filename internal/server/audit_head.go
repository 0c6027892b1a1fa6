package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/durable"
)

// auditHeadFile is the file in the data directory that holds a signed
// checkpoint of the newest audit entry this server appended. It lives
// outside the database so that deleting the last entries and checkpoints
// from the database is still seen: the database must reach the file's
// sequence with the file's hash there.
const auditHeadFile = "audit-head.json"

// headFile keeps the head checkpoint file. Commits only note their head
// (advance); a writer loop (run) writes the newest one, so a burst of
// commits costs one durable write, not one per commit, and no request
// waits for it. The file therefore trails the database by at most one
// write; it is never ahead, so it never reports a cut that did not happen.
// verify flushes it first.
type headFile struct {
	path string
	sign func(audit.Entry) audit.Checkpoint

	mu     sync.Mutex // guards latest
	latest audit.Entry
	wake   chan struct{} // one pending wake-up for run

	wmu     sync.Mutex // serialises writes of the file
	written uint64     // seq of the head in the file
}

func newHeadFile(path string, sign func(audit.Entry) audit.Checkpoint) *headFile {
	return &headFile{path: path, sign: sign, wake: make(chan struct{}, 1)}
}

// advance notes e as a head; the file moves only forward.
func (h *headFile) advance(e audit.Entry) {
	h.mu.Lock()
	if e.Seq > h.latest.Seq {
		h.latest = e
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run writes the newest head whenever it moves, until ctx ends. A head
// noted just before the end may stay unwritten: the file trails, which
// verify (and the next start's appends) make good.
func (h *headFile) run(ctx context.Context, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
			if err := h.flush(); err != nil {
				log.Error("write audit checkpoint file", "err", err, "path", h.path)
			}
		}
	}
}

// flush writes the newest head noted, if the file is behind it.
func (h *headFile) flush() error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.mu.Lock()
	head := h.latest
	h.mu.Unlock()
	if head.Seq <= h.written {
		return nil
	}
	if h.written == 0 {
		// After a restart: never move the file back to an older head that
		// another writer (a replica sharing the data directory) left.
		if cp, err := readHeadFile(h.path); err == nil && cp.Seq >= head.Seq {
			h.written = cp.Seq
			return nil
		}
	}
	if err := writeFileDurably(h.path, h.sign(head)); err != nil {
		return err
	}
	h.written = head.Seq
	return nil
}

// readHeadFile reads the head checkpoint file; a missing file is
// fs.ErrNotExist.
func readHeadFile(path string) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	b, err := os.ReadFile(path)
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("audit checkpoint file %s: %w", path, err)
	}
	return cp, nil
}

// writeFileDurably replaces path with v's JSON: a temporary file, synced,
// renamed over path, and the directory synced, so a crash leaves the old
// file or the new one, whole.
func writeFileDurably(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return durable.WriteFile(path, append(b, '\n'), 0o600)
}

// headRead is the checkpoint file as read at one moment.
type headRead struct {
	path string
	cp   audit.Checkpoint
	err  error
}

func readHead(path string) headRead {
	cp, err := readHeadFile(path)
	return headRead{path: path, cp: cp, err: err}
}

// verify checks the log es against the checkpoint read earlier: the file
// must be signed by the server's key, and the log must reach its sequence
// with its hash there. A missing file is reported once the log has entries:
// the server writes it on start and after every append.
func (h headRead) verify(es []audit.Entry, pub ed25519.PublicKey) *audit.Problem {
	if errors.Is(h.err, fs.ErrNotExist) {
		if len(es) == 0 {
			return nil
		}
		return &audit.Problem{Seq: uint64(len(es)), Kind: audit.KindBadCheckpoint, Detail: fmt.Sprintf(
			"the checkpoint file %s outside the database is missing: it cannot show whether the log's tail was cut", h.path)}
	}
	if h.err != nil {
		return &audit.Problem{Seq: uint64(len(es)), Kind: audit.KindBadCheckpoint, Detail: h.err.Error()}
	}
	return audit.VerifyHead(es, h.cp, pub, "the checkpoint file "+h.path)
}
