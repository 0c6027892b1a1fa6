package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/protocol"
)

// ResultLog remembers the results of the last jobs this agent finished.
// It lets the agent answer a job it already ran, offered again by a server
// restored from a backup (whose records predate the run), with the earlier
// result instead of refusing it silently, and tell a job it never ran
// from one it ran and forgot.
type ResultLog interface {
	// Result returns the recorded result of the job id.
	Result(id string) (protocol.JobResult, bool)
	// Record remembers r, the result of the job with sequence seq. It is
	// durable when it returns.
	Record(seq uint64, r protocol.JobResult) error
	// Partial says the log may lack jobs this agent ran: it was started
	// after the agent had accepted jobs, or it dropped its oldest entries.
	// Only a complete log proves that a job it lacks never ran here.
	Partial() bool
}

// resultLogSize bounds the log: a host runs a few jobs per change, so
// this covers years of changes.
const resultLogSize = 256

type loggedResult struct {
	Seq    uint64             `json:"seq"`
	Result protocol.JobResult `json:"result"`
}

type resultLogContent struct {
	Partial bool           `json:"partial"`
	Results []loggedResult `json:"results"`
}

// results is the log in memory, oldest first.
type results struct {
	mu sync.Mutex
	c  resultLogContent
}

func (l *results) Result(id string) (protocol.JobResult, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.c.Results {
		if r.Result.JobID == id {
			return r.Result, true
		}
	}
	return protocol.JobResult{}, false
}

func (l *results) Partial() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.Partial
}

// add records r and returns the content to persist.
func (l *results) add(seq uint64, r protocol.JobResult) resultLogContent {
	for i, have := range l.c.Results {
		if have.Result.JobID == r.JobID {
			l.c.Results[i] = loggedResult{Seq: seq, Result: r}
			return l.c
		}
	}
	l.c.Results = append(l.c.Results, loggedResult{Seq: seq, Result: r})
	if len(l.c.Results) > resultLogSize {
		l.c.Partial = true
		l.c.Results = l.c.Results[len(l.c.Results)-resultLogSize:]
	}
	return l.c
}

// MemResults is a ResultLog in memory, for simulated agents.
type MemResults struct{ results }

// Record remembers r.
func (m *MemResults) Record(seq uint64, r protocol.JobResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(seq, r)
	return nil
}

// ResultFile is a ResultLog kept in a small JSON file, replaced durably on
// every record.
type ResultFile struct {
	path string
	results
}

// OpenResultFile reads the log at path. A missing file starts an empty
// log, partial when lastSeq, the last job sequence the agent accepted, is
// not 0: jobs accepted before the log existed may have run.
func OpenResultFile(path string, lastSeq uint64) (*ResultFile, error) {
	f := &ResultFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f.c.Partial = lastSeq > 0
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read job results: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f.c); err != nil {
		return nil, fmt.Errorf("job results file %s is corrupt (%v); remove it: the agent then treats every earlier job as possibly run", path, err)
	}
	return f, nil
}

// Record remembers r durably.
func (f *ResultFile) Record(seq uint64, r protocol.JobResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.add(seq, r)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("write job results: %w", err)
	}
	if err := durable.WriteFile(f.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write job results: %w", err)
	}
	return nil
}

// answerReplay handles a job refused as a replay: its sequence is not
// above the last the agent accepted. Normally that is a job whose result
// is on its way (the journal holds it) or recorded already. After the
// server was restored from a backup it may also be a job the agent ran
// after the backup was taken, or a new job whose sequence the restored
// server handed out again. The agent never runs it; it tells the server
// what it knows so the server converges:
//   - a job in the journal: nothing (resumeJob reports it);
//   - a job in the result log: its earlier result, again;
//   - a job a complete log lacks: never run here, so NotRun with the
//     agent's last sequence (the server issues it again above that);
//   - otherwise the agent cannot tell and reports a failure; running it
//     again could run it twice.
func (a *Agent) answerReplay(ctx context.Context, v *JobVerifier, env protocol.Envelope) error {
	if a.cfg.Results == nil {
		return nil
	}
	job, err := env.Open(v.Key)
	if err != nil || job.HostID != v.HostID {
		return nil // Accept checked both before it found the replay
	}
	if e, err := a.cfg.Journal.Load(); err != nil || (e != nil && e.Job.ID == job.ID) {
		return err
	}
	last := v.State.LastSeq()
	res, ok := a.cfg.Results.Result(job.ID)
	switch {
	case ok:
		a.cfg.Logger.Info("job offered again; reporting its earlier result", "job", job.ID, "seq", job.Seq)
	case !a.cfg.Results.Partial():
		res = protocol.JobResult{JobID: job.ID, NotRun: true, LastSeq: last, Detail: fmt.Sprintf(
			"not run: sequence %d is not above %d, the last this agent accepted, and it never ran this job; the server's records are older than the agent's (restored from a backup?)", job.Seq, last)}
		a.cfg.Logger.Warn("job refused without running: its sequence is behind the agent's", "job", job.ID, "seq", job.Seq, "agent_seq", last)
	default:
		res = protocol.JobResult{JobID: job.ID, Detail: fmt.Sprintf(
			"refused: sequence %d is not above %d, the last this agent accepted, and the agent no longer remembers whether it ran this job; not run again", job.Seq, last)}
		a.cfg.Logger.Warn("job refused: the agent cannot tell whether it ran it", "job", job.ID, "seq", job.Seq, "agent_seq", last)
	}
	return a.postResult(ctx, res)
}

// postResult sends a result; one the server has recorded already (409)
// counts as sent.
func (a *Agent) postResult(ctx context.Context, r protocol.JobResult) error {
	client, err := a.mtlsClient()
	if err != nil {
		return err
	}
	var ack struct{}
	err = postJSON(ctx, client, a.cfg.Server+protocol.PathJobResult, r, &ack)
	var he *HTTPError
	if err != nil && !(errors.As(err, &he) && he.Status == 409) {
		return fmt.Errorf("report job %s: %w", r.JobID, err)
	}
	return nil
}
