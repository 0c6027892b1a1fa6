package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/store"
)

// reissueJob answers an agent that refused a job without running it
// because the job's sequence is not above the last one the agent
// accepted (protocol.JobResult.NotRun). That happens only when this
// server's database is older than the agent's state: it was restored
// from a backup, and sequences the old database handed out after the
// backup are handed out again. The job is signed again with a sequence
// above the agent's and offered at the next check-in; the host's counter
// moves there too, so later jobs are accepted the first time. The agent
// says NotRun only for a job it never ran (it answers a job it ran with
// the earlier result), so this never runs a job twice.
func (s *Server) reissueJob(w http.ResponseWriter, r *http.Request, hostID, hostname string, res protocol.JobResult) error {
	if res.LastSeq > protocol.MaxJobSeq {
		// A hostile agent must not wrap its host's counter.
		return errBadRequest(fmt.Sprintf("last_seq %d is above %d", res.LastSeq, uint64(protocol.MaxJobSeq)))
	}
	now := s.now()
	sign := func(seq uint64, stored []byte) ([]byte, error) {
		var env protocol.Envelope
		if err := json.Unmarshal(stored, &env); err != nil {
			return nil, err
		}
		var job protocol.Job
		if err := json.Unmarshal(env.Payload, &job); err != nil {
			return nil, err
		}
		job.Seq = seq
		signed, err := protocol.SignJob(s.jobKey, job)
		if err != nil {
			return nil, err
		}
		return json.Marshal(signed)
	}
	e := audit.Entry{Time: now, Actor: "host:" + hostname, Action: "job.reissue", Target: "job " + res.JobID, Outcome: "ok",
		Summary: fmt.Sprintf("host %s had passed job %s's sequence without running it (agent at sequence %d; server restored from a backup?): the job was signed again above it", hostname, res.JobID, res.LastSeq)}
	seq, err := s.store.ReissueJob(store.WithAudit(r.Context(), store.NewPendingAudit(e)), hostID, res.JobID, res.LastSeq, sign, now)
	if errors.Is(err, store.ErrConflict) {
		return &Error{http.StatusConflict, "conflict", "this job is no longer open"}
	}
	if err != nil {
		return err
	}
	s.log.Warn("job reissued above the agent's sequence", "host", hostID, "job", res.JobID, "agent_seq", res.LastSeq, "seq", seq)
	return writeJSON(w, 200, map[string]string{"status": "reissued"})
}

// jobNamespace makes job IDs that are UUIDs of their own kind.
var jobNamespace = uuid.MustParse("6f1d3a52-96b4-4f0e-9a43-5f0f3c2c9e57")

// jobID names the job of one change, host and phase. The store holds one
// such job (a withdrawn one, never delivered, is replaced), so the name is
// derived from them rather than drawn at random: a server restored from a
// backup that dispatches a job again, which its agent ran after the
// backup was taken, gives it the ID the agent knows, and the agent answers
// with the earlier result instead of running it a second time.
func jobID(changeID, hostID, phase string) string {
	return uuid.NewSHA1(jobNamespace, []byte(changeID+"\x00"+hostID+"\x00"+phase)).String()
}
