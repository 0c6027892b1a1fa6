package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
)

// rawDB opens the test server's SQLite file beside the server, as someone
// with access to the database would.
func rawDB(t *testing.T, ts *testServer) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(ts.Server.cfg.DataDir, "test.db")+"?_pragma=busy_timeout(15000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// loggedEntry is an audit entry as stored.
type loggedEntry struct {
	Seq     uint64          `json:"seq"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Outcome string          `json:"outcome"`
	Summary string          `json:"summary"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
}

// storedAudit reads the whole stored log.
func storedAudit(t *testing.T, ts *testServer) []loggedEntry {
	return storedAuditAs[loggedEntry](t, ts.db)
}

// storedAuditAs reads the whole stored log, each entry decoded as a T.
func storedAuditAs[T any](t testing.TB, db *store.DB) []T {
	t.Helper()
	var es []T
	if err := db.AuditRange(context.Background(), 0, 0, func(r store.AuditRecord) error {
		var e T
		if err := json.Unmarshal(r.Entry, &e); err != nil {
			return err
		}
		es = append(es, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

// Cutting the tail of the log — the last entries, then the last entries
// together with the checkpoint that covered them — verifies as truncated:
// the checkpoint kept outside the database still names the old head.
func TestAuditTruncatedTailIsReported(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock) // the org apply is entry 1
	ctx := context.Background()
	for i := range 104 { // entries 2 to 105; a checkpoint is signed at 100
		if err := ts.Server.audit.record(ctx, audit.Entry{Actor: "test", Action: "fill", Target: string(rune('a' + i%26)), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var v AuditVerifyResult
	if code := ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v); code != 200 || !v.OK || v.Entries != 105 || v.Checkpoints != 1 {
		t.Fatalf("verify before the cut: %d %+v %+v", code, v, v.Problem)
	}
	raw := rawDB(t, ts)
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq > 102`); err != nil {
		t.Fatal(err)
	}
	v = AuditVerifyResult{}
	ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v)
	if v.OK || v.Problem == nil || v.Problem.Kind != audit.KindTruncated || v.Problem.Seq != 103 {
		t.Fatalf("last 3 entries deleted: ok=%v %+v", v.OK, v.Problem)
	}
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq >= 100`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM audit_checkpoints WHERE seq >= 100`); err != nil {
		t.Fatal(err)
	}
	v = AuditVerifyResult{}
	ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v)
	if v.OK || v.Problem == nil || v.Problem.Kind != audit.KindTruncated || v.Problem.Seq != 100 || v.Checkpoints != 0 {
		t.Fatalf("entries from 100 and their checkpoint deleted: ok=%v checkpoints=%d %+v", v.OK, v.Checkpoints, v.Problem)
	}
	if !strings.Contains(v.Problem.Detail, "log ends at seq 99") || !strings.Contains(v.Problem.Detail, "covers seq 105") {
		t.Errorf("the problem does not give the numbers: %s", v.Problem.Detail)
	}
}

// With the audit log refusing appends (a trigger stands in for a full
// disk), a mutation fails and is undone: the user, the feed and the
// revocation are not stored. Once appends work again, the log verifies.
func TestFailedAuditAppendFailsTheRequestAndUndoesIt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	var created struct {
		ID string `json:"id"`
	}
	if code := ts.call(t, "POST", "/api/v1/tokens", tok["admin"], []byte(`{"name":"victim","role":"auditor"}`), &created); code != 201 || created.ID == "" {
		t.Fatalf("token: %d %+v", code, created)
	}
	before := len(storedAudit(t, ts))
	raw := rawDB(t, ts)
	if _, err := raw.Exec(`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "POST", "/api/v1/users", tok["admin"], []byte(`{"username":"zoe","role":"operator"}`), nil); code != 500 {
		t.Errorf("create user with the audit failing: %d, want 500", code)
	}
	if _, err := ts.db.GetUserByName(ctx, "zoe"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user zoe was stored without its audit entry: %v", err)
	}
	if code := ts.call(t, "POST", "/api/v1/tokens/"+created.ID+"/revoke", tok["admin"], nil, nil); code != 500 {
		t.Errorf("revoke with the audit failing: %d, want 500", code)
	}
	toks, err := ts.db.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range toks {
		if k.ID == created.ID && k.RevokedAt != nil {
			t.Error("the token was revoked without its audit entry")
		}
	}
	if code := ts.call(t, "POST", "/api/v1/feeds/import?name=alma", tok["admin"], almaRecord(t), nil); code != 500 {
		t.Errorf("feed import with the audit failing: %d, want 500", code)
	}
	if _, err := ts.db.GetFeed(ctx, "osv-alma"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the feed was stored without its audit entry: %v", err)
	}
	if _, err := ts.db.GetAdvisory(ctx, "ALSA-2022:4587"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the advisory was stored without its audit entry: %v", err)
	}
	if _, err := raw.Exec(`DROP TRIGGER audit_full`); err != nil {
		t.Fatal(err)
	}
	if got := len(storedAudit(t, ts)); got != before {
		t.Errorf("%d entries appended while appends failed", got-before)
	}
	if code := ts.call(t, "POST", "/api/v1/users", tok["admin"], []byte(`{"username":"zoe","role":"operator"}`), nil); code != 201 {
		t.Errorf("create user after the disk has room again: %d", code)
	}
	var v AuditVerifyResult
	if ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v); !v.OK {
		t.Errorf("verify: %+v", v.Problem)
	}
}

// almaRecord is a real AlmaLinux 9 OSV record (pcs, fixed in 0.11.1-10.el9).
func almaRecord(t *testing.T) []byte {
	t.Helper()
	return readFile(t, "../advisory/testdata/osv/almalinux/almalinux9/ALSA-2022_4587.json")
}

// Each mutation's entry says what happened, with before and after values.
func TestAuditEntriesSayWhatHappened(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	last := func() loggedEntry {
		es := storedAudit(t, ts)
		return es[len(es)-1]
	}
	ts.call(t, "POST", "/api/v1/users", tok["dave"], []byte(`{"username":"zoe","role":"operator"}`), nil)
	if e := last(); e.Summary != "user zoe created with role operator" || e.Actor != "dave" || e.Outcome != "ok" {
		t.Errorf("create user: %q by %q (%s)", e.Summary, e.Actor, e.Outcome)
	}
	ts.call(t, "POST", "/api/v1/users/zoe/role", tok["dave"], []byte(`{"role":"approver"}`), nil)
	if e := last(); e.Summary != "role of user zoe changed from operator to approver" ||
		string(e.Before) != `{"role":"operator"}` || string(e.After) != `{"role":"approver"}` {
		t.Errorf("set role: %q %s → %s", e.Summary, e.Before, e.After)
	}
	var tk struct {
		ID     string `json:"id"`
		Prefix string `json:"prefix"`
	}
	ts.call(t, "POST", "/api/v1/tokens", tok["dave"], []byte(`{"name":"ci","role":"auditor","user":"zoe"}`), &tk)
	if e := last(); e.Summary != `API token "ci" created with role auditor for user zoe` {
		t.Errorf("create token: %q", e.Summary)
	}
	ts.call(t, "POST", "/api/v1/tokens/"+tk.ID+"/revoke", tok["dave"], nil, nil)
	if e := last(); e.Summary != `token "ci" (`+tk.Prefix+`, role auditor) for zoe revoked` {
		t.Errorf("revoke token: %q", e.Summary)
	}
	spec := `{"title":"openssl","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}]}`
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(spec), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
	stored, err := ts.db.GetChange(context.Background(), ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored.Plan)
	want := "change " + ch.ID + " approved by bob, plan digest " + hex.EncodeToString(sum[:8]) + "; state pending-approval → approved"
	if e := last(); !strings.HasPrefix(e.Summary, want) || !strings.Contains(string(e.After), `"state":"approved"`) {
		t.Errorf("approve:\n got %q\nwant %q…", e.Summary, want)
	}
	ts.call(t, "POST", "/api/v1/feeds/import?name=alma", tok["dave"], almaRecord(t), nil)
	if e := last(); e.Summary != "feed osv-alma imported from upload alma: 1 added, 0 changed, 0 removed" || string(e.After) != `{"added":1,"changed":0,"removed":0}` {
		t.Errorf("feed import: %q %s", e.Summary, e.After)
	}
	var v AuditVerifyResult
	if ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v); !v.OK {
		t.Errorf("verify: %+v", v.Problem)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Background mutations carry their own entries in their own transaction:
// an exception's expiry is not stored while its entry cannot be, and is
// recorded exactly once when it can.
func TestExceptionExpiryIsAuditedWithIt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	var ex ExceptionView
	body := []byte(`{"group":"payments-prod","advisory":"A-1","justification":"WAF rule blocks the vector","expires":"24h"}`)
	if code := ts.call(t, "POST", "/api/v1/exceptions", tok["alice"], body, &ex); code != 201 {
		t.Fatalf("request: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/exceptions/"+ex.ID+"/approve", tok["bob"], nil, &ex); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	expiries := func() (n int, summary string) {
		for _, e := range storedAudit(t, ts) {
			if e.Action == "exception.expire" {
				n++
				summary = e.Summary
			}
		}
		return n, summary
	}
	clock.advance(25 * time.Hour)
	raw := rawDB(t, ts)
	if _, err := raw.Exec(`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.ExpireExceptions(context.Background()); err == nil {
		t.Error("the expiry succeeded while its audit entry failed")
	}
	stored, err := ts.db.GetException(context.Background(), ex.ID)
	if err != nil || stored.ExpiredAt != nil {
		t.Errorf("expired without an audit entry: %+v %v", stored.ExpiredAt, err)
	}
	if _, err := raw.Exec(`DROP TRIGGER audit_full`); err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.ExpireExceptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.ExpireExceptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored, err = ts.db.GetException(context.Background(), ex.ID)
	n, summary := expiries()
	if err != nil || stored.ExpiredAt == nil || n != 1 || summary != "exception "+ex.ID+" of team payments expired at 2026-11-26T12:00:00Z" {
		t.Errorf("after the expiry: expired at %v (%v), %d entries, %q", stored.ExpiredAt, err, n, summary)
	}
}

// An engine step that dispatches a job stores its entries with it: with
// the audit failing, the step fails and no job exists; once appends work,
// the job and its dispatch entry are stored once.
func TestEngineStepIsAuditedWithIt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx := context.Background()
	var ch ChangeView
	ts.call(t, "POST", "/api/v1/changes", tok["alice"], []byte(`{"title":"openssl","groups":["payments-prod"],
		"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"ignore_windows":true}`), &ch)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/submit", tok["alice"], nil, nil)
	ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/approve", tok["bob"], nil, nil)
	if code := ts.call(t, "POST", "/api/v1/changes/"+ch.ID+"/start", tok["alice"], nil, nil); code != 200 {
		t.Fatalf("start: %d", code)
	}
	step := func() error {
		c, err := ts.db.GetChange(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ts.Server.stepChange(ctx, c)
	}
	raw := rawDB(t, ts)
	if _, err := raw.Exec(`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := step(); err == nil {
		t.Error("the step succeeded while its audit entries failed")
	}
	if jobs, _ := ts.db.ChangeJobs(ctx, ch.ID); len(jobs) != 0 {
		t.Errorf("%d jobs dispatched without audit entries", len(jobs))
	}
	if _, err := raw.Exec(`DROP TRIGGER audit_full`); err != nil {
		t.Fatal(err)
	}
	if err := step(); err != nil {
		t.Fatal(err)
	}
	jobs, _ := ts.db.ChangeJobs(ctx, ch.ID)
	if len(jobs) != 1 {
		t.Fatalf("jobs after the step: %d, want 1", len(jobs))
	}
	var dispatches []string
	for _, e := range storedAudit(t, ts) {
		if strings.HasPrefix(e.Action, "job.dispatch") {
			dispatches = append(dispatches, e.Summary)
		}
	}
	want := "install job " + jobs[0].ID + " for host host-1 of change " + ch.ID + " dispatched"
	if len(dispatches) != 1 || dispatches[0] != want {
		t.Errorf("dispatch entries: %q, want [%q]", dispatches, want)
	}
}

// Verifying while other requests append is never a false alarm: the
// checkpoint file is read before the log, so entries committed during the
// verification only lengthen the log it reads (before, a head flushed after
// the log was read could name entries the read missed: "truncated").
func TestAuditVerifyDuringAppendsIsNotTruncation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; ctx.Err() == nil && err == nil; i++ {
			err = ts.Server.audit.record(context.Background(), audit.Entry{Actor: "test", Action: "fill", Target: fmt.Sprint(i), Outcome: "ok"})
		}
		done <- err
	}()
	for i := range 40 {
		var v AuditVerifyResult
		if code := ts.call(t, "GET", "/api/v1/audit/verify", tok["frank"], nil, &v); code != 200 || !v.OK {
			cancel()
			<-done
			t.Fatalf("verification %d while appending: %d %+v", i, code, v.Problem)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
