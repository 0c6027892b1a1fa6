package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// Group commit of check-ins. On SQLite every write transaction ends in an
// fsync of the WAL, and writers take turns on one connection, so a fleet
// checking in one transaction at a time spends most of its time waiting
// for the disk. The batcher runs one transaction for all the check-ins
// that arrived while the previous one ran: each in a savepoint of its own,
// so one that fails (a stale base, a rate refusal, a bad row) is rolled
// back alone and its batch-mates commit. Each caller is answered only
// after the commit that holds its check-in.
//
// Batches form by themselves: there is no timer. An idle server commits
// a lone check-in at once; a busy one commits what queued during the last
// commit, up to maxCheckinBatch.

// maxCheckinBatch bounds the check-ins of one transaction, so that one
// batch of full reports cannot hold the writer for long.
const maxCheckinBatch = 128

type checkinReq struct {
	ctx    context.Context
	hostID string
	c      Checkin
	now    time.Time
	done   chan checkinResult // buffered: the batcher never blocks on it

	rev      int64
	interned map[pvKey]int64
	err      error
	gaveUp   bool // its caller left before it began: not applied
}

type checkinResult struct {
	rev int64
	err error
}

// checkinBatcher owns the goroutine that commits batches.
type checkinBatcher struct {
	db   *DB
	reqs chan *checkinReq
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// checkinCommitters is how many batches commit at once: one on SQLite,
// whose writes are serialised anyway; on PostgreSQL, several, so that the
// round trips of one batch's statements overlap with another's (batches
// that deadlock on each other's rows are detected by PostgreSQL, and the
// check-in that lost runs again alone).
func checkinCommitters(d Dialect) int {
	if d == Postgres {
		return 4
	}
	return 1
}

func newCheckinBatcher(db *DB) *checkinBatcher {
	b := &checkinBatcher{db: db, reqs: make(chan *checkinReq), stop: make(chan struct{})}
	for range checkinCommitters(db.dialect) {
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

// close stops the batcher once its current batch is answered.
func (b *checkinBatcher) close() {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
}

var errStoreClosed = errors.New("store closed")

func (b *checkinBatcher) apply(ctx context.Context, hostID string, c Checkin, now time.Time) (int64, error) {
	r := &checkinReq{ctx: ctx, hostID: hostID, c: c, now: now, done: make(chan checkinResult, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-b.stop:
		return 0, errStoreClosed
	}
	// Once handed over, the check-in is applied or refused whatever
	// happens to ctx: the answer must say which.
	res := <-r.done
	return res.rev, res.err
}

func (b *checkinBatcher) loop() {
	defer b.wg.Done()
	for {
		var first *checkinReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch := []*checkinReq{first}
	fill:
		for len(batch) < maxCheckinBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.db.applyCheckinBatch(batch)
		for _, r := range batch {
			r.done <- checkinResult{r.rev, r.err}
		}
		b.db.prepareMissed(context.Background())
	}
}

// applyCheckinBatch applies the batch, setting each request's rev or err.
func (s *DB) applyCheckinBatch(batch []*checkinReq) {
	if len(batch) == 1 {
		r := batch[0]
		r.rev, r.err = s.applyCheckinAlone(r.ctx, r.hostID, r.c, r.now)
		return
	}
	// Statements run under a context the requests' deadlines cannot
	// cancel halfway: a caller that gives up still gets its check-in
	// applied or refused as a whole, like its batch-mates.
	ctx := context.WithoutCancel(batch[0].ctx)
	var again []*checkinReq // to run alone: they failed only for a concurrent change
	err := s.txThen(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if r.err = r.ctx.Err(); r.err != nil {
				r.gaveUp = true
				continue
			}
			if _, err := s.txExec(ctx, tx, `SAVEPOINT checkin`); err != nil {
				return err
			}
			r.interned = map[pvKey]int64{}
			r.rev, r.err = s.applyCheckinTx(ctx, tx, r.hostID, r.c, r.now, r.interned)
			if r.err != nil {
				r.interned = nil
				if _, err := s.txExec(ctx, tx, `ROLLBACK TO SAVEPOINT checkin`); err != nil {
					return err
				}
				if retryable(r.err) {
					again = append(again, r)
				}
			}
			if _, err := s.txExec(ctx, tx, `RELEASE SAVEPOINT checkin`); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		for _, r := range batch {
			if r.err == nil {
				s.cacheVersions(r.interned)
			}
		}
	})
	if err != nil {
		// The batch as a whole failed (its commit, or a savepoint):
		// nothing of it is stored, so each check-in runs alone.
		for _, r := range batch {
			if r.gaveUp {
				continue
			}
			r.rev, r.err = s.applyCheckinAlone(ctx, r.hostID, r.c, r.now)
		}
		return
	}
	for _, r := range again {
		r.rev, r.err = s.applyCheckinAlone(ctx, r.hostID, r.c, r.now)
	}
}
