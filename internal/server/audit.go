package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

// checkpointEvery is how many audit entries pass between signed
// checkpoints; a checkpoint is also signed when the audit is verified.
const checkpointEvery = 100

// auditor appends to the hash-chained audit log.
type auditor struct {
	s  *Server
	mu sync.Mutex
}

// record appends one entry, chained to the last, and signs a checkpoint
// every checkpointEvery entries with the server's key.
func (a *auditor) record(ctx context.Context, e audit.Entry) error {
	if e.Time.IsZero() {
		e.Time = a.s.now()
	}
	var chained audit.Entry
	_, err := a.s.store.AppendAudit(ctx, func(prev *store.AuditRecord) (store.AuditRecord, error) {
		var p *audit.Entry
		if prev != nil {
			var pe audit.Entry
			if err := json.Unmarshal(prev.Entry, &pe); err != nil {
				return store.AuditRecord{}, fmt.Errorf("audit entry %d: %w", prev.Seq, err)
			}
			p = &pe
		}
		chained = audit.Chain(p, e)
		b, err := json.Marshal(chained)
		if err != nil {
			return store.AuditRecord{}, err
		}
		return store.AuditRecord{Seq: chained.Seq, At: chained.Time, Entry: b, Hash: chained.Hash}, nil
	})
	if err != nil {
		return err
	}
	if chained.Seq%checkpointEvery == 0 {
		return a.checkpoint(ctx, chained)
	}
	return nil
}

// recordAll appends entries in order in one transaction, chained as
// record chains one, with the same checkpoints.
func (a *auditor) recordAll(ctx context.Context, es []audit.Entry) error {
	if len(es) == 0 {
		return nil
	}
	now := a.s.now()
	var chained []audit.Entry
	_, err := a.s.store.AppendAudits(ctx, len(es), func(prev *store.AuditRecord) (store.AuditRecord, error) {
		var p *audit.Entry
		if len(chained) > 0 {
			p = &chained[len(chained)-1]
		} else if prev != nil {
			var pe audit.Entry
			if err := json.Unmarshal(prev.Entry, &pe); err != nil {
				return store.AuditRecord{}, fmt.Errorf("audit entry %d: %w", prev.Seq, err)
			}
			p = &pe
		}
		e := es[len(chained)]
		if e.Time.IsZero() {
			e.Time = now
		}
		c := audit.Chain(p, e)
		chained = append(chained, c)
		b, err := json.Marshal(c)
		if err != nil {
			return store.AuditRecord{}, err
		}
		return store.AuditRecord{Seq: c.Seq, At: c.Time, Entry: b, Hash: c.Hash}, nil
	})
	if err != nil {
		return err
	}
	for _, c := range chained {
		if c.Seq%checkpointEvery == 0 {
			if err := a.checkpoint(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *auditor) checkpoint(ctx context.Context, last audit.Entry) error {
	cp := audit.SignCheckpoint(a.s.jobKey, last, a.s.now())
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return a.s.store.AddAuditCheckpoint(ctx, cp.Seq, b)
}

// load reads the whole log and its checkpoints.
func (a *auditor) load(ctx context.Context) ([]audit.Entry, []audit.Checkpoint, error) {
	var es []audit.Entry
	err := a.s.store.AuditRange(ctx, 0, 0, func(r store.AuditRecord) error {
		var e audit.Entry
		if err := json.Unmarshal(r.Entry, &e); err != nil {
			// A row that no longer decodes is itself tampering: keep its
			// sequence so Verify names it.
			e = audit.Entry{Seq: r.Seq, Hash: "undecodable"}
		}
		if e.Seq != r.Seq {
			e.Hash = "seq-mismatch:" + e.Hash
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	raw, err := a.s.store.AuditCheckpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	var cps []audit.Checkpoint
	for _, b := range raw {
		var cp audit.Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, nil, fmt.Errorf("audit checkpoint: %w", err)
		}
		cps = append(cps, cp)
	}
	return es, cps, nil
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// auditRequest records a mutating API call (or a refused one) after it ran.
func (s *Server) auditRequest(r *http.Request, rt route, ctx context.Context, status int, reqID string) {
	mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
	denied := status == http.StatusUnauthorized || status == http.StatusForbidden
	if rt.Perm == PermAgent || (!mutating && !denied) || rt.Perm == PermPublic || rt.Perm == PermLogin {
		return
	}
	actor := "anonymous"
	if p := principalFrom(ctx); p.TokenID != "" {
		actor = principalName(ctx, s)
	}
	if rt.Perm == PermEnrollToken {
		actor = "agent enrollment from " + r.RemoteAddr
	}
	outcome := "ok"
	switch {
	case denied:
		outcome = "denied"
	case status >= 400:
		outcome = "error: HTTP " + strconv.Itoa(status)
	}
	e := audit.Entry{Actor: actor, Action: rt.Method + " " + rt.Path, Target: r.URL.Path, RequestID: reqID, Outcome: outcome}
	if d, ok := r.Context().Value(auditDiffKey{}).(*auditDiff); ok && outcome == "ok" {
		if d.before != nil {
			e.Before, _ = json.Marshal(d.before)
		}
		if d.after != nil {
			e.After, _ = json.Marshal(d.after)
		}
	}
	if denied || (rt.Perm == PermEnrollToken && outcome != "ok") {
		// Anyone can send these: bounded, and repeats counted (refusals.go).
		s.refusals.record(ctx, e, r.RemoteAddr)
		return
	}
	// Audit survives the request: a client that hangs up must not lose it.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.audit.record(actx, e); err != nil {
		s.log.Error("audit append failed", "err", err, "action", e.Action)
	}
}

// AuditVerifyResult is the answer of verify.
type AuditVerifyResult struct {
	Entries     int            `json:"entries"`
	Checkpoints int            `json:"checkpoints"`
	OK          bool           `json:"ok"`
	Problem     *audit.Problem `json:"problem,omitempty"`
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	es, cps, err := s.audit.load(r.Context())
	if err != nil {
		return err
	}
	p := audit.Verify(es, cps, s.jobKey.Public().(ed25519.PublicKey))
	return writeJSON(w, 200, AuditVerifyResult{Entries: len(es), Checkpoints: len(cps), OK: p == nil, Problem: p})
}

func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	from, err := queryInt(r, "from", 1, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 10000)
	if err != nil {
		return err
	}
	var out []audit.Entry
	err = s.store.AuditRange(r.Context(), uint64(from), uint64(from+limit-1), func(rec store.AuditRecord) error {
		var e audit.Entry
		if err := json.Unmarshal(rec.Entry, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []audit.Entry{}
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

// handleAuditExport streams the log as JSON lines or RFC 5424 syslog lines
// for a SIEM.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "syslog" {
		return errBadRequest("format must be jsonl or syslog")
	}
	es, _, err := s.audit.load(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if format == "jsonl" {
		return audit.WriteJSONLines(w, es)
	}
	host, _ := os.Hostname()
	var b strings.Builder
	for _, e := range es {
		b.WriteString(audit.Syslog(e, host, "patchbay"))
		b.WriteByte('\n')
	}
	_, err = w.Write([]byte(b.String()))
	return err
}

func auditEntryForJob(hostname string, j store.Job, res protocol.JobResult) audit.Entry {
	outcome := "ok"
	if !res.OK {
		outcome = "error: " + res.Detail
	}
	return audit.Entry{Actor: "host:" + hostname, Action: "job.result " + j.Phase, Target: "change " + j.ChangeID + " job " + j.ID, Outcome: outcome}
}

func auditEntryForDispatch(j store.Job) audit.Entry {
	return audit.Entry{Actor: "engine", Action: "job.dispatch " + j.Phase, Target: "change " + j.ChangeID + " host " + j.HostID + " job " + j.ID, Outcome: "ok"}
}

// auditDiff carries the before and after of the object a request changed,
// for its audit entry; handlers fill it with setAuditDiff.
type auditDiff struct{ before, after any }

type auditDiffKey struct{}

func setAuditDiff(ctx context.Context, before, after any) {
	if d, ok := ctx.Value(auditDiffKey{}).(*auditDiff); ok {
		d.before, d.after = before, after
	}
}
