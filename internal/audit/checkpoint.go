package audit

import (
	"crypto/ed25519"
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
