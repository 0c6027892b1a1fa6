package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// testKey is a fixed signing key so golden files are reproducible.
func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return priv.Public().(ed25519.PublicKey), priv
}

var actions = []string{"POST /api/v1/org/apply", "login.failed", "login", "job.dispatch", "job.result", "changes.approve"}

// sampleEntry is the i-th (0-based) entry of a realistic log, before chaining.
func sampleEntry(i int) Entry {
	e := Entry{
		Time:      base.Add(time.Duration(i)*time.Second + 1234567*time.Nanosecond),
		Actor:     fmt.Sprintf("user:%d", i%7),
		Action:    actions[i%len(actions)],
		Target:    fmt.Sprintf("host/%d", i%13),
		RequestID: fmt.Sprintf("req-%06d", i),
		Outcome:   "ok",
	}
	switch i % 5 {
	case 1:
		e.Outcome = "denied"
	case 2:
		e.Outcome = "error: package <openssl> & friends: \"held\""
	case 3:
		e.Before = json.RawMessage(fmt.Sprintf(`{ "ring": %d, "note": "<b>&</b>" }`, i%4))
		e.After = json.RawMessage(fmt.Sprintf("{\n  \"ring\": %d,\n  \"list\": [1, 2.50, 1e3]\n}", i%4+1))
	}
	return e
}

// buildChain returns a chain of n sample entries.
func buildChain(n int) []Entry {
	es := make([]Entry, 0, n)
	var prev *Entry
	for i := range n {
		es = append(es, Chain(prev, sampleEntry(i)))
		prev = &es[len(es)-1]
	}
	return es
}

// rechain recomputes Seq, PrevHash and Hash of es[from:] as an attacker
// with write access to the store would.
func rechain(es []Entry, from int) {
	for i := from; i < len(es); i++ {
		var prev *Entry
		if i > 0 {
			prev = &es[i-1]
		}
		es[i] = Chain(prev, es[i])
	}
}

func clone(es []Entry) []Entry { return append([]Entry(nil), es...) }
