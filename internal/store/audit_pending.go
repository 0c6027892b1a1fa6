package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/patchbay/patchbay/internal/audit"
)

// AuditCheckpointEvery is how many audit entries pass between the signed
// checkpoints stored with the log.
const AuditCheckpointEvery = 100

// AuditHooks connect the store's audit appends to the server's key and to
// what it keeps outside the database.
type AuditHooks struct {
	// Checkpoint signs a checkpoint for the entry that ends the log and
	// returns its JSON; it is stored in the same transaction.
	Checkpoint func(last audit.Entry) ([]byte, error)
	// Appended is called after a transaction that appended entries
	// committed, with the last of them (the new head as far as this
	// transaction knows).
	Appended func(last audit.Entry)
}

// SetAuditHooks installs h; call it before the store is shared.
func (s *DB) SetAuditHooks(h AuditHooks) { s.auditHooks = h }

// PendingAudit is the audit record of the mutation a context is doing:
// the entries that say what it did. The store's write transaction appends
// the entries not yet stored to the hash chain just before it commits, so
// the mutation and its record commit together, or neither does (a failed
// append fails and rolls back the mutation). After the commit the entries
// count as stored and a later transaction of the same context appends
// only what was added since.
type PendingAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
	stored  []audit.Entry // chained copies of entries[:len(stored)]
}

// NewPendingAudit returns a record holding es.
func NewPendingAudit(es ...audit.Entry) *PendingAudit {
	return &PendingAudit{entries: append([]audit.Entry(nil), es...)}
}

type pendingAuditKey struct{}

// WithAudit returns ctx carrying p: write transactions run with it append
// p's entries.
func WithAudit(ctx context.Context, p *PendingAudit) context.Context {
	return context.WithValue(ctx, pendingAuditKey{}, p)
}

// AuditFrom returns the record ctx carries, or nil.
func AuditFrom(ctx context.Context) *PendingAudit {
	p, _ := ctx.Value(pendingAuditKey{}).(*PendingAudit)
	return p
}

// Add appends entries to the record.
func (p *PendingAudit) Add(es ...audit.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = append(p.entries, es...)
}

// Update edits the first entry not yet stored (the mutation's own, in a
// request); it does nothing when every entry is stored.
func (p *PendingAudit) Update(fn func(e *audit.Entry)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.stored) < len(p.entries) {
		fn(&p.entries[len(p.stored)])
	}
}

// Stored returns the entries stored so far, as chained.
func (p *PendingAudit) Stored() []audit.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]audit.Entry(nil), p.stored...)
}

// Pending says whether some entries are not stored yet.
func (p *PendingAudit) Pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stored) < len(p.entries)
}

// exec runs one mutating statement in a transaction of its own, so the
// audit record ctx carries commits with it (see tx).
func (s *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// execOne is exec for a statement that must change a row: when it changes
// none, it rolls back (with the audit record) and returns ErrNotFound.
func (s *DB) execOne(ctx context.Context, query string, args ...any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return affected(tx.ExecContext(ctx, query, args...))
	})
}
