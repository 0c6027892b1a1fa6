package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Kinds of Problem.
const (
	KindEdited        = "edited"
	KindDeleted       = "deleted"
	KindInserted      = "inserted"
	KindReordered     = "reordered"
	KindTruncated     = "truncated"
	KindBadCheckpoint = "bad-checkpoint"
)

// Problem is the first sign of tampering Verify found.
type Problem struct {
	// Seq names the first bad entry: the position where the log stops
	// being intact. For a deletion it is the first entry after the gap; for
	// a truncation, the first missing entry; for a checkpoint, its Seq.
	Seq    uint64
	Kind   string // one of the Kind constants
	Detail string
}

// Error describes p, so that a caller can return a *Problem as an error.
func (p *Problem) Error() string {
	return fmt.Sprintf("audit log %s at seq %d: %s", p.Kind, p.Seq, p.Detail)
}

// Verify checks that entries, in the order given, form an intact chain
// starting at seq 1 and agree with every checkpoint, whose signatures must
// verify with pub. It returns nil when all is intact, else the problem with
// the lowest Seq (a problem in the chain wins a tie with a checkpoint).
//
// Without checkpoints, Verify cannot detect a tail removed from the end or
// a tail rewritten with recomputed hashes; with a checkpoint at seq n, any
// such change at or before n is reported.
func Verify(entries []Entry, checkpoints []Checkpoint, pub ed25519.PublicKey) *Problem {
	first, intact := verifyChain(entries)
	for _, cp := range checkpoints {
		p := verifyCheckpoint(cp, entries[:intact], first == nil, pub)
		if p != nil && (first == nil || p.Seq < first.Seq) {
			first = p
		}
	}
	return first
}

// verifyChain walks the chain and returns its first problem, if any, and
// how many leading entries are intact (entries[i].Seq == i+1, linked).
func verifyChain(entries []Entry) (*Problem, int) {
	var prev *Entry
	for i := range entries {
		e := &entries[i]
		want := uint64(1)
		prevHash := ""
		if prev != nil {
			want, prevHash = prev.Seq+1, prev.Hash
		}
		if detail := malformed(e); detail != "" {
			return &Problem{Seq: want, Kind: KindEdited, Detail: detail}, i
		}
		if got := hashOf(*e); got != e.Hash {
			return &Problem{Seq: want, Kind: KindEdited, Detail: fmt.Sprintf(
				"entry at position %d (seq %d) does not match its hash: content changed", i+1, e.Seq)}, i
		}
		switch {
		case e.Seq > want:
			if j := findSeqIn(entries[i+1:], want, e.Seq); j >= 0 {
				return &Problem{Seq: want, Kind: KindReordered, Detail: fmt.Sprintf(
					"entry %d appears before entry %d", e.Seq, entries[i+1+j].Seq)}, i
			}
			return &Problem{Seq: e.Seq, Kind: KindDeleted, Detail: missing(want, e.Seq-1)}, i
		case prev != nil && e.Seq == prev.Seq:
			return &Problem{Seq: e.Seq, Kind: KindInserted, Detail: fmt.Sprintf(
				"two entries have seq %d: one was inserted", e.Seq)}, i
		case e.Seq < want:
			return &Problem{Seq: want, Kind: KindReordered, Detail: fmt.Sprintf(
				"entry %d appears after entry %d", e.Seq, prev.Seq)}, i
		}
		if e.PrevHash != prevHash {
			if prev == nil {
				return &Problem{Seq: e.Seq, Kind: KindEdited, Detail: "entry 1 names a previous entry: it was rewritten"}, i
			}
			// Entry e is self-consistent and in sequence, but does not link to
			// prev: prev was replaced by an entry with a recomputed hash.
			return &Problem{Seq: prev.Seq, Kind: KindEdited, Detail: fmt.Sprintf(
				"entry %d was rewritten: entry %d's prev_hash does not match its hash", prev.Seq, e.Seq)}, i - 1
		}
		prev = e
	}
	return nil, len(entries)
}

// verifyCheckpoint checks cp's signature and that intact (the verified
// prefix of the log) agrees with it; complete says whether intact is the
// whole log.
func verifyCheckpoint(cp Checkpoint, intact []Entry, complete bool, pub ed25519.PublicKey) *Problem {
	if len(pub) != ed25519.PublicKeySize {
		return &Problem{Seq: cp.Seq, Kind: KindBadCheckpoint, Detail: "no valid ed25519 public key to verify checkpoints with"}
	}
	if !cp.validSignature(pub) {
		return &Problem{Seq: cp.Seq, Kind: KindBadCheckpoint, Detail: fmt.Sprintf(
			"checkpoint for seq %d at %s has a bad signature: forged or altered", cp.Seq, cp.Time.UTC().Format("2006-01-02T15:04:05.000Z"))}
	}
	switch {
	case cp.Seq == 0:
		return nil // signed over an empty log
	case cp.Seq <= uint64(len(intact)):
		if e := intact[cp.Seq-1]; e.Hash != cp.Hash {
			return &Problem{Seq: cp.Seq, Kind: KindTruncated, Detail: fmt.Sprintf(
				"entry %d's hash differs from the checkpoint signed at %s: the log was cut and rewritten at or before seq %d",
				cp.Seq, cp.Time.UTC().Format("2006-01-02T15:04:05.000Z"), cp.Seq)}
		}
	case complete:
		last := uint64(len(intact))
		return &Problem{Seq: last + 1, Kind: KindTruncated, Detail: fmt.Sprintf(
			"log ends at seq %d but a checkpoint signed at %s covers seq %d: %s",
			last, cp.Time.UTC().Format("2006-01-02T15:04:05.000Z"), cp.Seq, missing(last+1, cp.Seq))}
	}
	return nil
}

// malformed says why e cannot have been written by Chain, or "".
// Canonical is lossy for such values, so they are rejected outright.
func malformed(e *Entry) string {
	for _, f := range []struct{ name, v string }{
		{"actor", e.Actor}, {"action", e.Action}, {"target", e.Target},
		{"request_id", e.RequestID}, {"outcome", e.Outcome}, {"summary", e.Summary}, {"prev_hash", e.PrevHash},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Sprintf("entry %d: %s is not valid UTF-8", e.Seq, f.name)
		}
	}
	if len(e.Before) > 0 && !json.Valid(e.Before) {
		return fmt.Sprintf("entry %d: before is not valid JSON", e.Seq)
	}
	if len(e.After) > 0 && !json.Valid(e.After) {
		return fmt.Sprintf("entry %d: after is not valid JSON", e.Seq)
	}
	return ""
}

// findSeqIn returns the index of the first entry with lo ≤ Seq < hi, or -1.
func findSeqIn(entries []Entry, lo, hi uint64) int {
	for i, e := range entries {
		if e.Seq >= lo && e.Seq < hi {
			return i
		}
	}
	return -1
}

func missing(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("entry %d is missing", from)
	}
	return fmt.Sprintf("entries %d to %d are missing", from, to)
}
