package audit

import (
	"crypto/ed25519"
	"fmt"
	"strconv"
	"time"
)

// Checkpoint is a signed statement that the log's entry Seq had Hash at
// Time. Kept outside the log (or at least signed by a key the log's store
// cannot reach), it makes a rewritten or truncated tail detectable.
type Checkpoint struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// Signature is ed25519 over CheckpointMessage(Seq, Hash, Time).
	Signature []byte `json:"signature"`
}

// SignCheckpoint signs the state of the log whose last entry is last.
func SignCheckpoint(key ed25519.PrivateKey, last Entry, now time.Time) Checkpoint {
	cp := Checkpoint{Seq: last.Seq, Hash: last.Hash, Time: now.UTC()}
	cp.Signature = ed25519.Sign(key, CheckpointMessage(cp.Seq, cp.Hash, cp.Time))
	return cp
}

// CheckpointMessage is the signed text of a checkpoint:
// "patchbay-audit-checkpoint\n<seq>\n<hash>\n<time RFC 3339 with nanoseconds, UTC>".
func CheckpointMessage(seq uint64, hash string, t time.Time) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "patchbay-audit-checkpoint\n"...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	b = append(b, hash...)
	b = append(b, '\n')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return b
}

// validSignature reports whether cp was signed by pub's private key.
func (cp Checkpoint) validSignature(pub ed25519.PublicKey) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false // ed25519.Verify panics on a bad key length
	}
	return ed25519.Verify(pub, CheckpointMessage(cp.Seq, cp.Hash, cp.Time), cp.Signature)
}

// VerifyHead checks a log, whose chain Verify found intact, against a
// checkpoint kept outside it (source names where, for the message): the
// checkpoint's signature must hold, and the log must reach the
// checkpoint's sequence with the checkpoint's hash there. A log that ends
// before it was cut (KindTruncated); one with another hash there was cut
// and rewritten (KindTruncated too).
func VerifyHead(entries []Entry, cp Checkpoint, pub ed25519.PublicKey, source string) *Problem {
	if !cp.validSignature(pub) {
		return &Problem{Seq: cp.Seq, Kind: KindBadCheckpoint, Detail: fmt.Sprintf(
			"%s has a bad signature: forged or altered", source)}
	}
	if cp.Seq == 0 {
		return nil
	}
	var last uint64
	if len(entries) > 0 {
		last = entries[len(entries)-1].Seq
	}
	at := cp.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	if cp.Seq > last {
		return &Problem{Seq: last + 1, Kind: KindTruncated, Detail: fmt.Sprintf(
			"log ends at seq %d but %s, signed at %s, covers seq %d: %s",
			last, source, at, cp.Seq, missing(last+1, cp.Seq))}
	}
	for _, e := range entries {
		if e.Seq == cp.Seq && e.Hash != cp.Hash {
			return &Problem{Seq: cp.Seq, Kind: KindTruncated, Detail: fmt.Sprintf(
				"entry %d's hash differs from %s, signed at %s: the log was cut and rewritten at or before seq %d",
				cp.Seq, source, at, cp.Seq)}
		}
	}
	return nil
}
