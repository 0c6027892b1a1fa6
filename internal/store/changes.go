package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
)

// Change is a change request as stored; Spec, Plan and Engine are JSON of
// the server's and the rollout engine's types.
type Change struct {
	ID         string
	Title      string
	State      string
	Author     string
	Spec       []byte
	Plan       []byte
	Engine     []byte
	ApprovedBy string
	ApprovedAt *time.Time
	// ApprovedDigest is the plan digest the approval recorded ("" when
	// not approved); Editors everyone who edited the change.
	ApprovedDigest string
	Editors        []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Revision       int64
}

// ChangeEvent is one entry of a change's history.
type ChangeEvent struct {
	At     time.Time
	Actor  string
	Kind   string
	Detail string
}

const changeCols = `id, title, state, author, spec, plan, engine, approved_by, approved_at, created_at, updated_at, revision, approved_digest, editors`

func scanChange(row interface{ Scan(...any) error }) (Change, error) {
	var c Change
	var appr sql.NullInt64
	var created, updated int64
	var spec, plan, engine, editors string
	err := row.Scan(&c.ID, &c.Title, &c.State, &c.Author, &spec, &plan, &engine, &c.ApprovedBy, &appr, &created, &updated, &c.Revision,
		&c.ApprovedDigest, &editors)
	if errors.Is(err, sql.ErrNoRows) {
		return Change{}, ErrNotFound
	}
	if err == nil && editors != "" {
		if err := json.Unmarshal([]byte(editors), &c.Editors); err != nil {
			return Change{}, fmt.Errorf("change %s: editors: %w", c.ID, err)
		}
	}
	c.Spec, c.Plan, c.Engine = []byte(spec), []byte(plan), []byte(engine)
	c.ApprovedAt, c.CreatedAt, c.UpdatedAt = fromMSPtr(appr), fromMS(created), fromMS(updated)
	return c, err
}

// CreateChange stores a new change with its first event.
func (s *DB) CreateChange(ctx context.Context, c Change, actor string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO changes (id, title, state, author, spec, plan, engine, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), c.ID, c.Title, c.State, c.Author, string(c.Spec), string(c.Plan), string(c.Engine),
			ms(c.CreatedAt), ms(c.CreatedAt)); err != nil {
			return err
		}
		return s.changeEvent(ctx, tx, c.ID, c.CreatedAt, actor, "created", c.Title)
	})
}

func (s *DB) changeEvent(ctx context.Context, q queryer, id string, at time.Time, actor, kind, detail string) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO change_events (change_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)`),
		id, ms(at), actor, kind, detail)
	return err
}

// GetChange returns one change.
func (s *DB) GetChange(ctx context.Context, id string) (Change, error) {
	return scanChange(s.db.QueryRowContext(ctx, s.q(`SELECT `+changeCols+` FROM changes WHERE id = ?`), id))
}

// ListChanges returns changes, newest first; states filters when given.
func (s *DB) ListChanges(ctx context.Context, states ...string) ([]Change, error) {
	q, args := `SELECT `+changeCols+` FROM changes`, []any{}
	if len(states) > 0 {
		q += ` WHERE state IN (`
		for i, st := range states {
			if i > 0 {
				q += `, `
			}
			q += `?`
			args = append(args, st)
		}
		q += `)`
	}
	return queryRows(ctx, s, q+` ORDER BY created_at DESC, id`, scanChange, args...)
}

// ChangeUpdate is what UpdateChange writes.
type ChangeUpdate struct {
	Change Change       // new state, plan, engine, approval
	Event  *ChangeEvent // recorded with the update
	Jobs   []Job        // created with the update, at most once each
	// SignOff, when set, is recorded with the update (ErrConflict if the
	// group has signed off already), so a verdict and the state it leads
	// to are never apart.
	SignOff *SignOff
	// WithdrawJobs withdraws every job of the change not yet delivered,
	// before the new Jobs are created: a halt takes effect in the same
	// transaction that records it.
	WithdrawJobs bool
}

// UpdateChange writes a change whose revision is still rev (else
// ErrRevisionMismatch), its event and its new jobs in one transaction: the
// engine's state and the jobs it decided are never out of step, so a
// server that crashes and replays cannot send a host the same job twice.
func (s *DB) UpdateChange(ctx context.Context, rev int64, u ChangeUpdate, now time.Time) (int64, error) {
	c := u.Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		editors, err := json.Marshal(append([]string{}, c.Editors...))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE changes SET title = ?, state = ?, spec = ?, plan = ?, engine = ?, approved_by = ?,
			approved_at = ?, approved_digest = ?, editors = ?, updated_at = ?, revision = revision + 1 WHERE id = ? AND revision = ?`),
			c.Title, c.State, string(c.Spec), string(c.Plan), string(c.Engine), c.ApprovedBy, msPtr(c.ApprovedAt), c.ApprovedDigest,
			string(editors), ms(now), c.ID, rev)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanChange(tx.QueryRowContext(ctx, s.q(`SELECT `+changeCols+` FROM changes WHERE id = ?`), c.ID)); err != nil {
				return err
			}
			return ErrRevisionMismatch
		}
		if u.Event != nil {
			if err := s.changeEvent(ctx, tx, c.ID, u.Event.At, u.Event.Actor, u.Event.Kind, u.Event.Detail); err != nil {
				return err
			}
		}
		if u.WithdrawJobs {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET status = 'withdrawn' WHERE change_id = ? AND status = 'pending'`), c.ID); err != nil {
				return fmt.Errorf("withdraw jobs: %w", err)
			}
		}
		for _, j := range u.Jobs {
			if err := s.insertJob(ctx, tx, j, now); err != nil {
				return err
			}
		}
		if u.SignOff != nil {
			return s.putSignOff(ctx, tx, *u.SignOff)
		}
		return nil
	})
	return rev + 1, err
}

// ChangeHistory returns a change's events, oldest first.
func (s *DB) ChangeHistory(ctx context.Context, id string) ([]ChangeEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, actor, kind, detail FROM change_events WHERE change_id = ? ORDER BY at, kind`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ChangeEvent
	for rows.Next() {
		var e ChangeEvent
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Kind, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Job is a signed job for one host.
type Job struct {
	ID          string
	ChangeID    string
	HostID      string
	Phase       string
	Seq         uint64
	Envelope    []byte // JSON of the signed envelope
	Status      string // pending, delivered, done, or withdrawn (taken back before delivery)
	Result      []byte
	CreatedAt   time.Time
	DeliveredAt *time.Time
	FinishedAt  *time.Time
	// Sign, when set, is called inside the transaction with the sequence
	// number allocated for the job and returns the envelope to store.
	Sign func(seq uint64) ([]byte, error) `json:"-"`
}

// insertJob allocates the host's next sequence number and stores the job;
// a job for a (change, host, phase) that exists is left alone, unless it
// was withdrawn: then the new job takes its place (the host never saw it).
func (s *DB) insertJob(ctx context.Context, tx *sql.Tx, j Job, now time.Time) error {
	var status string
	err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM jobs WHERE change_id = ? AND host_id = ? AND phase = ?`),
		j.ChangeID, j.HostID, j.Phase).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case status != "withdrawn":
		return nil
	default:
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM jobs WHERE change_id = ? AND host_id = ? AND phase = ?`),
			j.ChangeID, j.HostID, j.Phase); err != nil {
			return err
		}
	}
	var seq int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT last_seq FROM host_job_seq WHERE host_id = ?`+s.forUpdate()), j.HostID).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		seq = 0
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO host_job_seq (host_id, last_seq) VALUES (?, 0)`), j.HostID); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	seq++
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE host_job_seq SET last_seq = ? WHERE host_id = ?`), seq, j.HostID); err != nil {
		return err
	}
	env := j.Envelope
	if j.Sign != nil {
		var err error
		if env, err = j.Sign(uint64(seq)); err != nil {
			return fmt.Errorf("sign job: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO jobs (id, change_id, host_id, phase, seq, envelope, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`), j.ID, j.ChangeID, j.HostID, j.Phase, seq, string(env), ms(now))
	return err
}

const jobCols = `id, change_id, host_id, phase, seq, envelope, status, result, created_at, delivered_at, finished_at`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var seq, created int64
	var env, result string
	var deliv, fin sql.NullInt64
	err := row.Scan(&j.ID, &j.ChangeID, &j.HostID, &j.Phase, &seq, &env, &j.Status, &result, &created, &deliv, &fin)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	j.Seq, j.Envelope, j.Result = uint64(seq), []byte(env), []byte(result)
	j.CreatedAt, j.DeliveredAt, j.FinishedAt = fromMS(created), fromMSPtr(deliv), fromMSPtr(fin)
	return j, err
}

// JobGate says which jobs may be handed out at all: only jobs of changes
// in a Deliver state, rollback jobs also of changes in a RollbacksIn state,
// jobs of no change (quarantine and release, SetQuarantined), and nothing
// while the flag StopFlag names is on.
type JobGate struct {
	Deliver     []string
	RollbacksIn []string
	StopFlag    string
}

// OpenJobs returns a host's jobs not yet finished that gate lets through,
// by sequence, and marks them delivered. A job withdrawn meanwhile (by a
// halt or emergency stop that committed first) is not returned.
func (s *DB) OpenJobs(ctx context.Context, hostID string, now time.Time, gate JobGate) ([]Job, error) {
	q := `SELECT j.id, j.change_id, j.host_id, j.phase, j.seq, j.envelope, j.status, j.result, j.created_at, j.delivered_at, j.finished_at
		FROM jobs j LEFT JOIN changes c ON c.id = j.change_id
		WHERE j.host_id = ? AND j.status IN ('pending', 'delivered')
		AND (j.change_id = '' OR c.state IN (` + placeholders(len(gate.Deliver)) + `) OR (j.phase = 'rollback' AND c.state IN (` + placeholders(len(gate.RollbacksIn)) + `)))
		AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.name = ? AND f.is_on)
		ORDER BY j.seq`
	args := []any{hostID}
	for _, st := range gate.Deliver {
		args = append(args, st)
	}
	for _, st := range gate.RollbacksIn {
		args = append(args, st)
	}
	args = append(args, gate.StopFlag)
	found, err := s.queryJobs(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := found[:0]
	for _, j := range found {
		if j.Status == "pending" {
			res, err := s.wdb.ExecContext(ctx, s.q(`UPDATE jobs SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'pending'`), ms(now), j.ID)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue // withdrawn since it was read
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// placeholders is n comma-separated parameters, or NULL for none (IN
// (NULL) matches nothing).
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// FinishJob records a host's result for its job, once: a second result is
// ErrConflict and changes nothing. A job of another host is ErrNotFound.
func (s *DB) FinishJob(ctx context.Context, hostID, jobID string, result []byte, now time.Time) (Job, error) {
	var j Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, s.q(`SELECT `+jobCols+` FROM jobs WHERE id = ? AND host_id = ?`+s.forUpdate()), jobID, hostID))
		if err != nil {
			return err
		}
		if j.Status == "done" {
			return ErrConflict
		}
		// The result's audit entry, appended by this transaction, names
		// the job's phase and change, which only the stored job knows.
		if p := AuditFrom(ctx); p != nil {
			p.Update(func(e *audit.Entry) {
				e.Action = "job.result " + j.Phase
				e.Target = "change " + j.ChangeID + " host " + hostID + " job " + jobID
			})
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET status = 'done', result = ?, finished_at = ? WHERE id = ?`), string(result), ms(now), jobID); err != nil {
			return err
		}
		j.Status, j.Result = "done", result
		t := now
		j.FinishedAt = &t
		return nil
	})
	return j, err
}

// ChangeJobs returns a change's jobs by host and phase.
func (s *DB) ChangeJobs(ctx context.Context, changeID string) ([]Job, error) {
	return s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE change_id = ? ORDER BY host_id, seq`, changeID)
}

// queryJobs runs a query selecting jobCols (or the same columns) and scans
// every row.
func (s *DB) queryJobs(ctx context.Context, query string, args ...any) ([]Job, error) {
	return queryRows(ctx, s, query, scanJob, args...)
}

// FinishedChangeJobs returns a change's jobs with a result, or withdrawn,
// that were created at or after since, without their envelopes: the
// results and withdrawals the engine may not have applied yet.
func (s *DB) FinishedChangeJobs(ctx context.Context, changeID string, since time.Time) ([]Job, error) {
	return s.queryJobs(ctx, `SELECT id, change_id, host_id, phase, seq, '', status, result, created_at, delivered_at, finished_at
		FROM jobs WHERE change_id = ? AND status IN ('done', 'withdrawn') AND created_at >= ?`, changeID, ms(since))
}

// CountOpenJobs counts unfinished jobs by status.
func (s *DB) CountOpenJobs(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM jobs WHERE status IN ('pending', 'delivered') GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// HostJobsSince returns a host's finished jobs created since t.
func (s *DB) HostJobsSince(ctx context.Context, hostID string, since time.Time) ([]Job, error) {
	return s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE host_id = ? AND status = 'done' AND created_at >= ? ORDER BY seq`,
		hostID, ms(since))
}
