package server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// readyTimeout bounds the readiness write; readyReuse is how long a
// successful write answers later probes without writing again.
const (
	readyTimeout = 3 * time.Second
	readyReuse   = time.Second
)

// readyState remembers the last successful readiness write.
type readyState struct {
	mu   sync.Mutex
	last time.Time
}

// readiness says whether the server can serve: its database takes a small
// real write (the heartbeat row) within readyTimeout. A ping was not
// enough: reads kept answering while writes failed.
func (s *Server) readiness(ctx context.Context) error {
	now := time.Now() // wall time: this bounds the probe rate, not logic
	s.ready.mu.Lock()
	fresh := !s.ready.last.IsZero() && now.Sub(s.ready.last) < readyReuse
	s.ready.mu.Unlock()
	if fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.store.Heartbeat(ctx, s.now()); err != nil {
		s.log.Warn("not ready: the database refused a write", "err", err)
		return &Error{http.StatusServiceUnavailable, "not_ready", "the database does not take writes"}
	}
	s.ready.mu.Lock()
	s.ready.last = now
	s.ready.mu.Unlock()
	return nil
}
