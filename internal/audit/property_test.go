package audit

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Tamperings applied by the property tests.
const (
	opEdit = iota
	opEditAndRehash
	opDelete
	opInsert
	opSwap
	opTruncate
	opRewriteTail
	opForgeCheckpoint
	numOps
)

// TestEveryRandomSingleTamperingIsDetectedAtTheTamperedEntry builds random
// chains, always with a checkpoint at the last entry (as the server signs
// one periodically), applies one random tampering and checks that Verify
// reports it at the tampered entry (for a deletion, the first entry after
// the gap; for a truncation, the first missing entry).
func TestEveryRandomSingleTamperingIsDetectedAtTheTamperedEntry(t *testing.T) {
	pub, priv := testKey(t)
	trials := 1000
	if testing.Short() {
		trials = 200
	}
	for trial := range trials {
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		n := 2 + rng.IntN(120)
		es := make([]Entry, 0, n)
		var prev *Entry
		for range n {
			es = append(es, Chain(prev, sampleEntry(rng.IntN(1000))))
			prev = &es[len(es)-1]
		}
		cps := []Checkpoint{SignCheckpoint(priv, es[n-1], base)}
		if p := Verify(es, cps, pub); p != nil {
			t.Fatalf("trial %d: intact chain reported: %v", trial, p)
		}
		checkTampering(t, rng, rng.IntN(numOps), es, cps, pub)
	}
}

// TestEveryKindOfTamperingOfA10000EntryLogIsDetected is issue 7's
// acceptance test: each kind of tampering at random positions of a
// 10,000-entry log is found at the right entry in every trial.
func TestEveryKindOfTamperingOfA10000EntryLogIsDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 10,000-entry log")
	}
	pub, priv := testKey(t)
	intact := buildChain(10000)
	cps := []Checkpoint{SignCheckpoint(priv, intact[9999], base)}
	rng := rand.New(rand.NewPCG(10000, 7))
	for op := range numOps {
		for range 6 {
			checkTampering(t, rng, op, clone(intact), slices.Clone(cps), pub)
		}
	}
}

// checkTampering applies tampering op at a random position of the intact
// chain es (with checkpoint cps[0] at its end) and checks Verify's answer.
func checkTampering(t *testing.T, rng *rand.Rand, op int, es []Entry, cps []Checkpoint, pub []byte) {
	t.Helper()
	n := len(es)
	k := rng.IntN(n) // 0-based position of the tampered entry
	want := uint64(k + 1)
	var kinds []string // acceptable kinds
	var what string
	switch op {
	case opEdit:
		what = "edit one field"
		editField(rng, &es[k])
		kinds = []string{KindEdited}
	case opEditAndRehash:
		what = "edit and recompute the hash"
		editField(rng, &es[k])
		var p *Entry
		if k > 0 {
			p = &es[k-1]
		}
		es[k] = Chain(p, es[k])
		kinds = []string{KindEdited}
		if k == n-1 {
			// The last entry has no successor; its checkpoint catches it.
			kinds = []string{KindTruncated}
		}
	case opDelete:
		what = "delete"
		es = slices.Delete(es, k, k+1)
		want, kinds = uint64(k+2), []string{KindDeleted}
		if k == n-1 {
			want, kinds = uint64(n), []string{KindTruncated}
		}
	case opInsert:
		what = "insert a forged, correctly hashed entry"
		var p *Entry
		if k > 0 {
			p = &es[k-1]
		}
		forged := Chain(p, sampleEntry(rng.IntN(1000)+1000))
		es = slices.Insert(es, k, forged)
		kinds = []string{KindInserted}
	case opSwap:
		what = "swap two entries"
		j := rng.IntN(n)
		for j == k {
			j = rng.IntN(n)
		}
		es[k], es[j] = es[j], es[k]
		want = uint64(min(j, k) + 1)
		kinds = []string{KindReordered}
	case opTruncate:
		what = "truncate"
		es = es[:k]
		kinds = []string{KindTruncated}
	case opRewriteTail:
		what = "rewrite the tail"
		for i := k; i < n; i++ {
			editField(rng, &es[i])
		}
		rechain(es, k)
		want = uint64(n) // only the checkpoint can tell
		kinds = []string{KindTruncated}
	case opForgeCheckpoint:
		what = "forge the checkpoint"
		cps[0].Hash = es[k].Hash
		cps[0].Seq = es[k].Seq
		if k == n-1 {
			cps[0].Time = cps[0].Time.Add(1)
		}
		kinds = []string{KindBadCheckpoint}
	}
	p := Verify(es, cps, pub)
	if p == nil {
		t.Fatalf("n=%d: %s at seq %d not detected", n, what, k+1)
	}
	if p.Seq != want || !slices.Contains(kinds, p.Kind) {
		t.Fatalf("n=%d: %s at seq %d: got %v; want %v at %d", n, what, k+1, p, kinds, want)
	}
}

// editField changes one field of e to a different value.
func editField(rng *rand.Rand, e *Entry) {
	switch rng.IntN(7) {
	case 0:
		e.Actor += "x"
	case 1:
		e.Action = "x" + e.Action
	case 2:
		e.Target += " "
	case 3:
		e.Outcome += "!"
	case 4:
		e.Time = e.Time.Add(-1e6)
	case 5:
		if string(e.After) == `{"edited":true}` {
			e.After = []byte(`{"edited":false}`)
		} else {
			e.After = []byte(`{"edited":true}`)
		}
	case 6:
		e.Actor += "\n"
	}
}
