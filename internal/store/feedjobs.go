package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchbay/patchbay/internal/match"
)

// FeedJob is the matching a feed import asked for, run off the request
// path. Its row commits with the import (FeedImport.Job), so it survives
// a restart: a server resumes the jobs not done at start.
type FeedJob struct {
	ID         string
	Feed       string
	State      string      // FeedJobQueued, FeedJobRunning, FeedJobDone, FeedJobFailed
	Keys       []match.Key // index keys whose tuples are matched again
	Advisories []string    // changed advisories: their open findings are rescored
	CVEs       []string    // CVEs whose KEV or EPSS inputs changed: their open findings are rescored
	CreatedAt  time.Time
	StartedAt  time.Time // zero until it starts
	FinishedAt time.Time // zero until it ends
	Result     FeedJobResult
	Error      string
}

// FeedJobResult is what a job did.
type FeedJobResult struct {
	Tuples int // distinct (release, package version) tuples matched again
	Hosts  int // hosts whose findings changed
	Reconciled
	Rescored int
}

// The states of a FeedJob.
const (
	FeedJobQueued  = "queued"
	FeedJobRunning = "running"
	FeedJobDone    = "done"
	FeedJobFailed  = "failed"
)

func (s *DB) insertFeedJob(ctx context.Context, tx *sql.Tx, j FeedJob, now time.Time) error {
	keys := make([][3]string, 0, len(j.Keys))
	for _, k := range j.Keys {
		keys = append(keys, [3]string{k.Distro, k.Release, k.Package})
	}
	kj, _ := json.Marshal(keys)
	aj, _ := json.Marshal(nonNilSlice(j.Advisories))
	cj, _ := json.Marshal(nonNilSlice(j.CVEs))
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO feed_jobs (id, feed, state, keys, advisories, cves, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		j.ID, j.Feed, FeedJobQueued, string(kj), string(aj), string(cj), ms(now))
	return err
}

const feedJobCols = `id, feed, state, keys, advisories, cves, created_at, started_at, finished_at, tuples, hosts, opened, resolved, reopened,
	updated, rescored, error`

func scanFeedJob(sc interface{ Scan(...any) error }) (FeedJob, error) {
	var j FeedJob
	var keys, advs, cves string
	var created, started, finished int64
	if err := sc.Scan(&j.ID, &j.Feed, &j.State, &keys, &advs, &cves, &created, &started, &finished, &j.Result.Tuples, &j.Result.Hosts,
		&j.Result.Opened, &j.Result.Resolved, &j.Result.Reopened, &j.Result.Updated, &j.Result.Rescored, &j.Error); err != nil {
		return j, err
	}
	var ks [][3]string
	if err := json.Unmarshal([]byte(keys), &ks); err != nil {
		return j, err
	}
	for _, k := range ks {
		j.Keys = append(j.Keys, match.Key{Distro: k[0], Release: k[1], Package: k[2]})
	}
	if err := json.Unmarshal([]byte(advs), &j.Advisories); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(cves), &j.CVEs); err != nil {
		return j, err
	}
	j.CreatedAt = fromMS(created)
	if started != 0 {
		j.StartedAt = fromMS(started)
	}
	if finished != 0 {
		j.FinishedAt = fromMS(finished)
	}
	return j, nil
}

// GetFeedJob returns one job.
func (s *DB) GetFeedJob(ctx context.Context, id string) (FeedJob, error) {
	j, err := scanFeedJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+feedJobCols+` FROM feed_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return FeedJob{}, ErrNotFound
	}
	return j, err
}

// ListFeedJobs returns the newest jobs first, at most limit.
func (s *DB) ListFeedJobs(ctx context.Context, limit int) ([]FeedJob, error) {
	return queryRows(ctx, s, `SELECT `+feedJobCols+` FROM feed_jobs ORDER BY created_at DESC, id LIMIT ?`, scanFeedJob, limit)
}

// PendingFeedJobs returns the jobs not yet done or failed, oldest first:
// queued ones and those a stopped server left running.
func (s *DB) PendingFeedJobs(ctx context.Context) ([]FeedJob, error) {
	return queryRows(ctx, s, `SELECT `+feedJobCols+` FROM feed_jobs WHERE state IN (?, ?) ORDER BY created_at, id`, scanFeedJob,
		FeedJobQueued, FeedJobRunning)
}

// StartFeedJob marks a job running.
func (s *DB) StartFeedJob(ctx context.Context, id string, now time.Time) error {
	return affected(s.wdb.ExecContext(ctx, s.q(`UPDATE feed_jobs SET state = ?, started_at = ? WHERE id = ?`), FeedJobRunning, ms(now), id))
}

// FinishFeedJob records a job's end: done with its result, or failed with
// errMsg.
func (s *DB) FinishFeedJob(ctx context.Context, id string, r FeedJobResult, errMsg string, now time.Time) error {
	state := FeedJobDone
	if errMsg != "" {
		state = FeedJobFailed
	}
	return affected(s.wdb.ExecContext(ctx, s.q(`UPDATE feed_jobs SET state = ?, finished_at = ?, tuples = ?, hosts = ?, opened = ?, resolved = ?,
		reopened = ?, updated = ?, rescored = ?, error = ? WHERE id = ?`), state, ms(now), r.Tuples, r.Hosts, r.Opened, r.Resolved, r.Reopened,
		r.Updated, r.Rescored, errMsg, id))
}
