package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/audit"
)

// Bounds on what unauthenticated and refused requests write to the audit
// log (docs/architecture.md "Trust"). Anyone can send them, so each entry,
// and their number, is bounded.
const (
	// auditFieldMax bytes per text field of such an entry.
	auditFieldMax = 256
	// refusalPeriod: the repeats of one (address, action, reason) within
	// it are written as one entry with their count.
	refusalPeriod = time.Minute
	// refusalImmediateMax first-of-a-kind entries are written at once per
	// period across all keys; past it, refusals are only counted.
	refusalImmediateMax = 120
	// refusalMaxKeys keys are counted at once; a new key past it is
	// counted under one catch-all key.
	refusalMaxKeys = 1024
	// refusalActorsKept distinct actors are named in a count entry.
	refusalActorsKept = 4
)

// clip shortens s to at most auditFieldMax bytes on a UTF-8 boundary,
// saying how much was cut.
func clip(s string) string {
	if len(s) <= auditFieldMax {
		return s
	}
	const mark = "…(cut)"
	n := auditFieldMax - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// clipEntry bounds every text field of an entry written on behalf of an
// unauthenticated or refused caller.
func clipEntry(e audit.Entry) audit.Entry {
	e.Actor, e.Action, e.Target, e.RequestID, e.Outcome = clip(e.Actor), clip(e.Action), clip(e.Target), clip(e.RequestID), clip(e.Outcome)
	return e
}

type refusalKey struct{ addr, action, reason string }

// refusalCount is one key's current period: the entry written at its
// start and the repeats since.
type refusalCount struct {
	first   audit.Entry
	start   time.Time
	last    time.Time
	repeats int
	actors  []string
}

// refusalLog writes the audit entries of refused requests, bounded: the
// first refusal of a kind per period is written at once, its repeats as
// one entry with a count when the period ends.
type refusalLog struct {
	s *Server

	mu        sync.Mutex
	keys      *boundedMap[refusalKey, *refusalCount]
	period    time.Time // start of the current immediate-entry budget
	immediate int
}

func newRefusalLog(s *Server) *refusalLog {
	return &refusalLog{s: s, keys: newBoundedMap[refusalKey, *refusalCount](refusalMaxKeys + 1)}
}

var refusalOverflow = refusalKey{addr: "*", action: "*", reason: "*"}

// record writes or counts the audit entry e of a refused or
// unauthenticated request from addr.
func (l *refusalLog) record(ctx context.Context, e audit.Entry, addr string) {
	now := l.s.now()
	e = clipEntry(e)
	if e.Time.IsZero() {
		e.Time = now
	}
	k := refusalKey{addr: signinAddrKey(addr), action: e.Action, reason: e.Outcome}
	var write []audit.Entry
	l.mu.Lock()
	c, ok := l.keys.get(k)
	if !ok && l.keys.len() >= refusalMaxKeys {
		k = refusalOverflow
		c, ok = l.keys.get(k)
	}
	if ok && now.Sub(c.start) >= refusalPeriod {
		if c.repeats > 0 {
			write = append(write, c.summary(k))
		}
		ok = false
	}
	if !now.Before(l.period.Add(refusalPeriod)) {
		l.period, l.immediate = now, 0
	}
	switch {
	case ok:
		c.count(e, now)
	case l.immediate < refusalImmediateMax && k != refusalOverflow:
		l.immediate++
		l.keys.put(k, &refusalCount{first: e, start: now, last: now})
		write = append(write, e)
	default:
		// Over budget: only counted, written when the period ends.
		c = &refusalCount{first: e, start: now}
		c.count(e, now)
		l.keys.put(k, c)
	}
	l.mu.Unlock()
	l.write(ctx, write)
}

func (c *refusalCount) count(e audit.Entry, now time.Time) {
	c.repeats++
	c.last = now
	if len(c.actors) < refusalActorsKept && !strings.Contains("\x00"+strings.Join(c.actors, "\x00")+"\x00", "\x00"+e.Actor+"\x00") {
		c.actors = append(c.actors, e.Actor)
	}
}

// summary is the entry that counts a key's repeats.
func (c *refusalCount) summary(k refusalKey) audit.Entry {
	e := c.first
	e.Time = c.last
	e.RequestID = ""
	if len(c.actors) > 0 {
		e.Actor = clip(strings.Join(c.actors, ", "))
	}
	if k == refusalOverflow {
		e.Action, e.Target = "refused requests of other kinds", "from many addresses"
	}
	e.Outcome = clip(fmt.Sprintf("%s (repeated %d times from %s between %s and %s)", c.first.Outcome, c.repeats, k.addr,
		c.start.UTC().Format(time.TimeOnly), c.last.UTC().Format(time.TimeOnly)))
	return e
}

// flush writes the counts of the periods that ended by now (all of them
// when all is set, at shutdown).
func (l *refusalLog) flush(ctx context.Context, all bool) {
	now := l.s.now()
	var write []audit.Entry
	l.mu.Lock()
	l.keys.each(func(k refusalKey, c *refusalCount) {
		if !all && now.Sub(c.start) < refusalPeriod {
			return
		}
		if c.repeats > 0 {
			write = append(write, c.summary(k))
		}
		l.keys.delete(k)
	})
	l.mu.Unlock()
	l.write(ctx, write)
}

func (l *refusalLog) write(ctx context.Context, es []audit.Entry) {
	if len(es) == 0 {
		return
	}
	// Audit survives the request: a client that hangs up must not lose it.
	// A flush's counts go in one transaction (up to refusalMaxKeys+1).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := l.s.audit.recordAll(actx, es); err != nil {
		l.s.log.Error("audit append failed", "err", err, "entries", len(es), "action", es[0].Action)
	}
}

// run flushes ended periods every half period until ctx ends, then
// flushes the rest.
func (l *refusalLog) run(ctx context.Context) {
	ticker(ctx, refusalPeriod/2, func() { l.flush(ctx, false) })
	l.flush(context.Background(), true)
}
