package server

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// boundedMap is a map that holds at most max keys: putting a new key into
// a full map evicts the least recently used one. It is not safe for
// concurrent use; its owner locks.
type boundedMap[K comparable, V any] struct {
	max   int
	order *list.List // front: most recently used; elements hold K
	m     map[K]boundedEntry[V]
}

type boundedEntry[V any] struct {
	v V
	e *list.Element
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, order: list.New(), m: make(map[K]boundedEntry[V])}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	x, ok := b.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	b.order.MoveToFront(x.e)
	return x.v, true
}

func (b *boundedMap[K, V]) put(k K, v V) {
	if x, ok := b.m[k]; ok {
		x.v = v
		b.m[k] = x
		b.order.MoveToFront(x.e)
		return
	}
	for len(b.m) >= b.max {
		oldest := b.order.Back()
		delete(b.m, oldest.Value.(K))
		b.order.Remove(oldest)
	}
	b.m[k] = boundedEntry[V]{v: v, e: b.order.PushFront(k)}
}

func (b *boundedMap[K, V]) delete(k K) {
	if x, ok := b.m[k]; ok {
		b.order.Remove(x.e)
		delete(b.m, k)
	}
}

func (b *boundedMap[K, V]) len() int { return len(b.m) }

// each calls f for every entry, least recently used first; f may delete
// the entry it is given.
func (b *boundedMap[K, V]) each(f func(K, V)) {
	for e := b.order.Back(); e != nil; {
		prev := e.Prev()
		k := e.Value.(K)
		f(k, b.m[k].v)
		e = prev
	}
}

// hashGate lets at most slots expensive operations run at once. Others
// wait, up to a time, in two FIFO queues of at most maxQueued each: the
// first queue (callers with no recent failures) is always served before
// the second.
type hashGate struct {
	mu        sync.Mutex
	free      int
	maxQueued int
	queues    [2][]chan struct{}
}

func newHashGate(slots, maxQueued int) hashGate {
	return hashGate{free: slots, maxQueued: maxQueued}
}

// acquire takes a slot, waiting at most wait; first says which queue the
// caller waits in. It reports whether the caller holds a slot, which it
// must then release.
func (g *hashGate) acquire(ctx context.Context, first bool, wait time.Duration) bool {
	q := 1
	if first {
		q = 0
	}
	g.mu.Lock()
	ahead := len(g.queues[0])
	if q == 1 {
		ahead += len(g.queues[1])
	}
	if g.free > 0 && ahead == 0 {
		g.free--
		g.mu.Unlock()
		return true
	}
	if len(g.queues[q]) >= g.maxQueued {
		g.mu.Unlock()
		return false
	}
	ch := make(chan struct{}, 1) // release hands the slot over without blocking
	g.queues[q] = append(g.queues[q], ch)
	g.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, c := range g.queues[q] {
		if c == ch {
			g.queues[q] = append(g.queues[q][:i], g.queues[q][i+1:]...)
			g.mu.Unlock()
			return false
		}
	}
	g.mu.Unlock()
	// The slot was handed over as the wait ended: pass it on.
	<-ch
	g.release()
	return false
}

// release gives a slot to the first waiter, or back to the pool.
func (g *hashGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for q := range g.queues {
		if len(g.queues[q]) > 0 {
			ch := g.queues[q][0]
			g.queues[q] = g.queues[q][1:]
			ch <- struct{}{}
			return
		}
	}
	g.free++
}

// waiting is how many callers wait in queue q (0: first).
func (g *hashGate) waiting(q int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queues[q])
}
