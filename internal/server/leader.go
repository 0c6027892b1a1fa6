package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// Several replicas on one database (docs/replicas.md): each singleton loop
// runs its work under a lease in the database (store.TakeLease), so one
// replica at a time does it, and claims each run in the lease's row
// (store.ClaimRun, fenced by the lease's token), so a run happens once per
// interval across all replicas and restarts. A replica that stops
// releases its leases; one that is killed loses them after LeaseTTL.
// Leases and the schedule go by the wall clock (time.Now, not the
// server's clock, which tests set): replicas need their clocks in step
// (NTP) to well within LeaseTTL.

// DefaultLeaseTTL is how long a lease outlives its holder's last renewal.
const DefaultLeaseTTL = 30 * time.Second

// Lease names.
const (
	leaseFeedSync        = "feed-sync"
	leaseExceptionExpiry = "exception-expiry"
	leaseFeedJobs        = "feed-jobs"
)

// newHolderID names this server process in the leases it holds: a
// restarted process is a new holder, so its take-over moves the token.
func newHolderID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

func (s *Server) leaseTTL() time.Duration {
	if s.cfg.LeaseTTL > 0 {
		return s.cfg.LeaseTTL
	}
	return DefaultLeaseTTL
}

// every runs f once per interval across all replicas, on the replica that
// holds the lease name. This replica first tries after delay (a restart
// loop does not hammer anything, a short-lived server never runs f); on a
// database where f never ran the first run is due then. f's context ends
// if the lease is lost while f runs (the renewal failed or another holder
// took over). every returns when ctx ends, releasing the lease.
func (s *Server) every(ctx context.Context, name string, interval, delay time.Duration, f func(ctx context.Context)) {
	ttl := s.leaseTTL()
	check := min(interval, ttl/3)
	var token int64
	held := false
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	defer func() {
		if held {
			s.releaseLease(ctx, name)
		}
	}()
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tok, ok, err := s.store.TakeLease(ctx, name, s.holder, ttl, time.Now())
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("take lease", "lease", name, "err", err)
			}
			continue
		}
		if ok != held || tok != token {
			if ok {
				s.log.Info("lease taken", "lease", name, "token", tok)
			} else if held {
				s.log.Info("lease lost", "lease", name, "token", token)
			}
		}
		token, held = tok, ok
		if !held {
			continue
		}
		due, err := s.store.ClaimRun(ctx, name, token, interval, time.Now())
		if err != nil || !due {
			if err != nil && ctx.Err() == nil {
				s.log.Warn("claim run", "lease", name, "err", err)
			}
			continue
		}
		s.underLease(ctx, name, token, ttl, f)
	}
}

// releaseLease gives up this replica's lease name, if it holds it, as the
// server stops (ctx ended).
func (s *Server) releaseLease(ctx context.Context, name string) {
	if err := s.store.ReleaseLease(context.WithoutCancel(ctx), name, s.holder); err != nil {
		s.log.Warn("release lease", "lease", name, "err", err)
	}
}

// whileLeased runs f when this replica holds (takes or renews) the lease
// name, under underLease. The lease is kept after f returns, so the
// holder stays the same while it lives; the caller releases it when it
// stops (releaseLease), and it runs out TTL after a holder that died.
func (s *Server) whileLeased(ctx context.Context, name string, f func(ctx context.Context)) {
	ttl := s.leaseTTL()
	token, ok, err := s.store.TakeLease(ctx, name, s.holder, ttl, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("take lease", "lease", name, "err", err)
		}
		return
	}
	if !ok {
		return
	}
	s.underLease(ctx, name, token, ttl, f)
}

// underLease runs f while renewing the lease every third of its TTL; f's
// context ends when a renewal finds the lease taken over.
func (s *Server) underLease(ctx context.Context, name string, token int64, ttl time.Duration, f func(ctx context.Context)) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			ok, err := s.store.RenewLease(fctx, name, s.holder, token, ttl, time.Now())
			if err == nil && !ok {
				s.log.Warn("lease taken over while its work ran; stopping the work", "lease", name, "token", token)
				cancel()
				return
			}
			// A failed renewal is retried; the lease runs out after ttl.
		}
	}()
	f(fctx)
	cancel()
	<-done
}

// indexPoll is how often a replica on PostgreSQL looks for advisory
// changes made by another replica.
const indexPoll = time.Second

// follow keeps the in-memory index in line with the stored advisories
// when other replicas write them, and the organisation with the newest
// applied revision (followOrg): it polls the advisory generation
// (bumped by every write to advisories) and, when it moved, loads the
// advisories whose content hash changed and drops those removed.
func (v *vulns) follow(ctx context.Context) {
	t := time.NewTicker(indexPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := v.catchUp(ctx); err != nil && ctx.Err() == nil {
			v.s.log.Warn("follow advisory changes", "err", err)
		}
		if err := v.s.followOrg(ctx); err != nil && ctx.Err() == nil {
			v.s.log.Warn("follow the organisation", "err", err)
		}
	}
}

// followOrg loads the organisation another replica applied, when the
// stored revision is newer than the one this replica holds.
func (s *Server) followOrg(ctx context.Context) error {
	rev, err := s.store.LatestOrgRevision(ctx)
	if err != nil {
		return err
	}
	if held, _ := s.org.get(); rev <= held {
		return nil
	}
	cur, err := s.store.CurrentOrg(ctx)
	if err != nil {
		return err
	}
	org, err := policy.Parse([]byte(cur.YAML))
	if err != nil {
		return fmt.Errorf("stored organisation revision %d: %w", cur.Revision, err)
	}
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	if cur.Revision > s.org.rev { // an apply on this replica may have moved it meanwhile
		s.org.rev, s.org.org, s.org.yaml = cur.Revision, org, cur.YAML
		s.log.Info("organisation followed the database", "revision", cur.Revision)
	}
	return nil
}

// catchUp brings the index to the stored advisories' generation; it does
// nothing when the generation did not move since the last call.
func (v *vulns) catchUp(ctx context.Context) error {
	v.followMu.Lock()
	defer v.followMu.Unlock()
	gen, err := v.s.store.AdvisoryGeneration(ctx)
	if err != nil || gen == v.gen {
		return err
	}
	hashes, err := v.s.store.AdvisoryHashes(ctx)
	if err != nil {
		return err
	}
	var changed, removed []string
	for id, h := range hashes {
		if v.hashes[id] != h {
			changed = append(changed, id)
		}
	}
	for id := range v.hashes {
		if _, ok := hashes[id]; !ok {
			removed = append(removed, id)
		}
	}
	advs, err := v.decodeStored(ctx, changed)
	if err != nil {
		return err
	}
	v.index.Put(advs...)
	v.index.Remove(removed...)
	v.hashes, v.gen = hashes, gen
	if len(changed)+len(removed) > 0 {
		v.s.log.Info("advisory index followed the database", "generation", gen, "loaded", len(changed), "removed", len(removed))
	}
	return nil
}

// storeIsShared says whether other replicas may write the database.
func (s *Server) storeIsShared() bool { return s.store.Dialect() == store.Postgres }
