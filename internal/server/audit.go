package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

// auditor appends to the hash-chained audit log. The store appends a
// mutation's entries in the mutation's own transaction (store.WithAudit);
// the auditor signs the checkpoints stored every
// store.AuditCheckpointEvery entries and keeps the newest head, signed, in
// a file outside the database (auditHeadFile) so that cutting the tail of
// the log and its checkpoints is detected.
type auditor struct {
	s    *Server
	head *headFile // nil without a data directory
}

func newAuditor(s *Server) *auditor {
	a := &auditor{s: s}
	if s.cfg.DataDir != "" {
		a.head = newHeadFile(filepath.Join(s.cfg.DataDir, auditHeadFile), func(e audit.Entry) audit.Checkpoint {
			return audit.SignCheckpoint(s.jobKey, e, s.now())
		})
	}
	s.store.SetAuditHooks(store.AuditHooks{Checkpoint: a.signCheckpoint, Appended: a.appended})
	return a
}

// signCheckpoint signs a checkpoint for the store to keep with the log.
func (a *auditor) signCheckpoint(last audit.Entry) ([]byte, error) {
	return json.Marshal(audit.SignCheckpoint(a.s.jobKey, last, a.s.now()))
}

// appended runs after each commit that appended entries: the head moves
// forward in the file beside the database, and every stored checkpoint is
// also written to the log (and so to syslog where the log goes).
func (a *auditor) appended(last audit.Entry) {
	if last.Seq%store.AuditCheckpointEvery == 0 {
		a.s.log.Info("audit checkpoint", "seq", last.Seq, "hash", last.Hash)
	}
	if a.head != nil {
		a.head.advance(last)
	}
}

// record appends one entry on its own: for events that change nothing
// else (a refused request, a sign-in).
func (a *auditor) record(ctx context.Context, e audit.Entry) error {
	return a.recordAll(ctx, []audit.Entry{e})
}

// recordAll appends entries in order in one transaction.
func (a *auditor) recordAll(ctx context.Context, es []audit.Entry) error {
	if len(es) == 0 {
		return nil
	}
	now := a.s.now()
	for i := range es {
		if es[i].Time.IsZero() {
			es[i].Time = now
		}
	}
	_, err := a.s.store.AppendAudit(ctx, es...)
	return err
}

// load reads the whole log and its checkpoints.
func (a *auditor) load(ctx context.Context) ([]audit.Entry, []audit.Checkpoint, error) {
	// Checkpoints first: one commits with the entries it covers, so entries
	// read after it always reach it, however many commits land between.
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
	var es []audit.Entry
	err = a.s.store.AuditRange(ctx, 0, 0, func(r store.AuditRecord) error {
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
	return es, cps, nil
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// auditedRequest says whether a request gets an audit record: mutating
// API calls and refused ones; agents' own requests are recorded where
// they change something (job results), sign-ins by the login handler.
func auditedRequest(r *http.Request, rt route) bool {
	return rt.Perm != PermAgent && rt.Perm != PermPublic && rt.Perm != PermLogin
}

func mutatingRequest(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

// requestEntry is the audit entry of an API call, before its outcome.
func (s *Server) requestEntry(r *http.Request, rt route, ctx context.Context, reqID string) audit.Entry {
	actor := "anonymous"
	if p := principalFrom(ctx); p.TokenID != "" {
		actor = principalName(ctx, s)
	}
	if rt.Perm == PermEnrollToken {
		actor = "agent enrollment from " + r.RemoteAddr
	}
	return audit.Entry{Time: s.now(), Actor: actor, Action: rt.Method + " " + rt.Path, Target: r.URL.Path, RequestID: reqID, Outcome: "ok"}
}

// auditRequest finishes the audit record of an API call after it ran. A
// mutation's entry was appended in the mutation's transaction already
// (pending, see store.WithAudit); if the call then failed, a second entry
// says so. A call that stored nothing (refused, invalid, failed) is
// appended now with its outcome.
func (s *Server) auditRequest(r *http.Request, rt route, ctx context.Context, status int, reqID string, pending *store.PendingAudit) {
	denied := status == http.StatusUnauthorized || status == http.StatusForbidden
	if !auditedRequest(r, rt) || (!mutatingRequest(r) && !denied) {
		return
	}
	outcome := "ok"
	switch {
	case denied:
		outcome = "denied"
	case status >= 400:
		outcome = "error: HTTP " + strconv.Itoa(status)
	}
	var e audit.Entry
	switch {
	case pending != nil && len(pending.Stored()) > 0:
		if outcome == "ok" {
			return
		}
		e = s.requestEntry(r, rt, ctx, reqID)
		e.Outcome, e.Summary = outcome, "the request failed after its change was stored"
	case pending != nil:
		pending.Update(func(pe *audit.Entry) { e = *pe })
		e.Outcome = outcome
		if outcome != "ok" {
			// The summary was written before the store call that failed.
			e.Before, e.After = nil, nil
			if e.Summary != "" {
				e.Summary = "not done: " + e.Summary
			}
		}
	default:
		e = s.requestEntry(r, rt, ctx, reqID)
		e.Outcome = outcome
	}
	if denied || (rt.Perm == PermEnrollToken && outcome != "ok") {
		// Anyone can send these: bounded, and repeats counted (refusals.go).
		s.refusals.record(ctx, e, r.RemoteAddr)
		return
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
	// HeadFile is the checkpoint file outside the database the log was
	// checked against ("" without a data directory).
	HeadFile string `json:"head_file,omitempty"`
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	res, err := s.verifyAudit(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, 200, res)
}

// verifyAudit checks the chain, the checkpoints stored with it and the
// checkpoint file outside the database.
func (s *Server) verifyAudit(ctx context.Context) (AuditVerifyResult, error) {
	// The checkpoint file is flushed and read BEFORE the log: commits that
	// land meanwhile only lengthen the log, while a head read after the
	// log could cover entries the read missed and report a cut that never
	// happened.
	var head headRead
	if s.audit.head != nil {
		if err := s.audit.head.flush(); err != nil {
			return AuditVerifyResult{}, fmt.Errorf("write audit checkpoint file: %w", err)
		}
		head = readHead(s.audit.head.path)
	}
	es, cps, err := s.audit.load(ctx)
	if err != nil {
		return AuditVerifyResult{}, err
	}
	pub := s.jobKey.Public().(ed25519.PublicKey)
	p := audit.Verify(es, cps, pub)
	res := AuditVerifyResult{Entries: len(es), Checkpoints: len(cps)}
	if s.audit.head != nil {
		res.HeadFile = s.audit.head.path
		if p == nil {
			p = head.verify(es, pub)
		}
	}
	res.OK, res.Problem = p == nil, p
	return res, nil
}

// startAudit writes the checkpoint file from the log's head when there is
// none (a new data directory, or the first start of a version that keeps
// it), and logs an error when the log no longer reaches the file's head.
func (s *Server) startAudit(ctx context.Context) error {
	if s.audit.head == nil {
		return nil
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.audit.head.run(ctx, s.log)
	}()
	cp, err := readHeadFile(s.audit.head.path)
	if err == nil {
		var es []audit.Entry
		if cp.Seq > 0 {
			es, _, err = s.audit.load(ctx)
			if err != nil {
				return err
			}
		}
		if p := audit.VerifyHead(es, cp, s.jobKey.Public().(ed25519.PublicKey), "the checkpoint file "+s.audit.head.path); p != nil {
			s.log.Error("audit log does not match the checkpoint outside the database", "problem", p.Error())
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var last audit.Entry
	if err := s.store.AuditRange(ctx, 0, 0, func(r store.AuditRecord) error {
		return json.Unmarshal(r.Entry, &last)
	}); err != nil {
		return err
	}
	s.audit.head.advance(last)
	return s.audit.head.flush()
}

// handleAuditList reads the audit trail oldest first from ?from= (or the
// page_token of the previous page), filtered by ?actor= (exact), ?action=
// and ?target= (contains, any case), ?since= and ?until= (RFC 3339 or
// YYYY-MM-DD); total counts every matching entry.
func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := queryInt(r, "from", 1, 1<<62)
	if err != nil {
		return err
	}
	if tok := q.Get("page_token"); tok != "" {
		n, err := strconv.ParseUint(tok, 10, 63)
		if err != nil || n < 1 {
			return store.ErrBadCursor
		}
		from = int(n)
	}
	limit, err := queryInt(r, "limit", 100, 10000)
	if err != nil {
		return err
	}
	var since, until time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
		day  int // YYYY-MM-DD as until: the end of that day
	}{{"since", &since, 0}, {"until", &until, 1}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := time.Parse(time.DateOnly, v)
			if derr != nil {
				return errBadRequest(p.name + " must be an RFC 3339 time or YYYY-MM-DD")
			}
			t = d.AddDate(0, 0, p.day)
		}
		*p.dst = t
	}
	actor, action, target := q.Get("actor"), strings.ToLower(q.Get("action")), strings.ToLower(q.Get("target"))
	match := func(e audit.Entry) bool {
		return (actor == "" || e.Actor == actor) && (action == "" || strings.Contains(strings.ToLower(e.Action), action)) &&
			(target == "" || strings.Contains(strings.ToLower(e.Target), target)) &&
			(since.IsZero() || !e.Time.Before(since)) && (until.IsZero() || e.Time.Before(until))
	}
	page := api.Page[audit.Entry]{Items: []audit.Entry{}}
	err = s.store.AuditRange(r.Context(), uint64(from), 0, func(rec store.AuditRecord) error {
		var e audit.Entry
		if err := json.Unmarshal(rec.Entry, &e); err != nil {
			return err
		}
		if !match(e) {
			return nil
		}
		page.Total++
		switch {
		case len(page.Items) < limit:
			page.Items = append(page.Items, e)
		case page.NextPageToken == "":
			page.NextPageToken = strconv.FormatUint(e.Seq, 10)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if from > 1 {
		// total counts the whole trail's matches, not only those after from.
		n := 0
		if err := s.store.AuditRange(r.Context(), 1, uint64(from-1), func(rec store.AuditRecord) error {
			var e audit.Entry
			if err := json.Unmarshal(rec.Entry, &e); err != nil {
				return err
			}
			if match(e) {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		page.Total += n
	}
	return writeJSON(w, 200, page)
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

// auditEntryForResult is the audit entry of an agent's job result.
func auditEntryForResult(hostname string, res protocol.JobResult, now time.Time) audit.Entry {
	outcome := "ok"
	if !res.OK {
		outcome = "error: " + res.Detail
	}
	return audit.Entry{Time: now, Actor: "host:" + hostname, Action: "job.result", Target: "job " + res.JobID, Outcome: outcome,
		Summary: fmt.Sprintf("host %s reported job %s %s", hostname, res.JobID, map[bool]string{true: "succeeded", false: "failed"}[res.OK])}
}

func auditEntryForDispatch(j store.Job) audit.Entry {
	return audit.Entry{Actor: "engine", Action: "job.dispatch " + j.Phase, Target: "change " + j.ChangeID + " host " + j.HostID + " job " + j.ID, Outcome: "ok"}
}

// setAuditDiff sets the before and after of the object a request changes
// on its audit entry. Call it before the store call that makes the change:
// the entry is appended in that call's transaction.
func setAuditDiff(ctx context.Context, before, after any) {
	if p := store.AuditFrom(ctx); p != nil {
		b, _ := marshalAudit(before)
		a, _ := marshalAudit(after)
		p.Update(func(e *audit.Entry) { e.Before, e.After = b, a })
	}
}

// auditSummary says what a request does in domain terms ("user carol
// created with role operator"), on its audit entry; like setAuditDiff,
// before the store call.
func auditSummary(ctx context.Context, format string, args ...any) {
	if p := store.AuditFrom(ctx); p != nil {
		msg := fmt.Sprintf(format, args...)
		p.Update(func(e *audit.Entry) { e.Summary = msg })
	}
}

func marshalAudit(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// formatLabels writes labels as k=v pairs in key order, for audit entries.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ", ")
}

// describeAPIToken names a token for an audit entry: "token \"ci\" (pbt_ab12) for
// bob", or its ID when there is no such token.
func (s *Server) describeAPIToken(ctx context.Context, id string) string {
	ts, err := s.store.ListAPITokens(ctx)
	if err != nil {
		return "API token " + id
	}
	for _, t := range ts {
		if t.ID != id {
			continue
		}
		owner := "no user"
		if t.UserID != "" {
			owner = t.UserID
			if u, err := s.store.GetUser(ctx, t.UserID); err == nil {
				owner = u.Username
			}
		}
		return fmt.Sprintf("token %q (%s, role %s) for %s", t.Name, t.Prefix, t.Role, owner)
	}
	return "API token " + id
}
