package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
)

// ReissueJob gives the open job jobID of hostID a sequence above
// agentSeq, the last sequence the host's agent accepted, and raises the
// host's counter to it, in one transaction: the agent refused the job
// without running it because this database's sequence is behind the
// agent's (it was restored from a backup). sign returns the job's stored
// envelope signed again with the new sequence. The job becomes pending again.
//
// A job that is not open (done or withdrawn) is ErrConflict. A job whose
// sequence is above agentSeq already (a second report of the same refusal)
// is left as it is. It returns the job's sequence.
func (s *DB) ReissueJob(ctx context.Context, hostID, jobID string, agentSeq uint64, sign func(seq uint64, envelope []byte) ([]byte, error), now time.Time) (uint64, error) {
	var seq uint64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		j, err := scanJob(tx.QueryRowContext(ctx, s.q(`SELECT `+jobCols+` FROM jobs WHERE id = ? AND host_id = ?`+s.forUpdate()), jobID, hostID))
		if err != nil {
			return err
		}
		if j.Status != "pending" && j.Status != "delivered" {
			return ErrConflict
		}
		if j.Seq > agentSeq {
			seq = j.Seq
			if p := AuditFrom(ctx); p != nil {
				p.Update(func(e *audit.Entry) {
					e.Outcome = fmt.Sprintf("unchanged: sequence %d is above the agent's already", j.Seq)
				})
			}
			return nil
		}
		var last int64
		err = tx.QueryRowContext(ctx, s.q(`SELECT last_seq FROM host_job_seq WHERE host_id = ?`+s.forUpdate()), hostID).Scan(&last)
		if err != nil {
			return fmt.Errorf("host %s has a job but no sequence counter: %w", hostID, err)
		}
		seq = max(uint64(last), agentSeq) + 1
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE host_job_seq SET last_seq = ? WHERE host_id = ?`), int64(seq), hostID); err != nil {
			return err
		}
		env, err := sign(seq, j.Envelope)
		if err != nil {
			return fmt.Errorf("sign job: %w", err)
		}
		if p := AuditFrom(ctx); p != nil {
			p.Update(func(e *audit.Entry) {
				e.Target = "change " + j.ChangeID + " host " + hostID + " job " + jobID
			})
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE jobs SET seq = ?, envelope = ?, status = 'pending', delivered_at = NULL WHERE id = ?`),
			int64(seq), string(env), jobID)
		return err
	})
	return seq, err
}
