package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Entry is one audit record: who did what to which object, when, with what
// outcome, and optionally the object's state before and after.
type Entry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"` // "POST /api/v1/org/apply", "login.failed", "job.dispatch"
	Target    string    `json:"target"`
	RequestID string    `json:"request_id"`
	Outcome   string    `json:"outcome"` // "ok", "denied", "error: ..."
	// Summary says what happened in domain terms ("user carol created
	// with role operator"). It is hashed only when set, so entries
	// written before it existed keep their hashes.
	Summary string          `json:"summary,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	// PrevHash is the previous entry's Hash; "" for seq 1.
	PrevHash string `json:"prev_hash"`
	// Hash is the lower-case hex SHA-256 of Canonical(entry).
	Hash string `json:"hash"`
}

// canonicalTime is the layout of Time in the canonical encoding: UTC with
// all nine fractional digits, so no two instants share a text.
const canonicalTime = "2006-01-02T15:04:05.000000000Z"

// Chain returns e appended after prev (nil for the first entry): it sets
// Seq to prev.Seq+1 (or 1), PrevHash to prev.Hash (or ""), truncates Time
// to the millisecond in UTC, normalizes the fields to what the canonical
// encoding represents exactly, and sets Hash.
//
// Normalization: invalid UTF-8 in the text fields becomes U+FFFD; Before
// and After are compacted with <, > and & escaped as JSON does by default
// (an empty value or JSON null becomes nil); a Before or After that is not
// valid JSON is stored as a JSON string holding its bytes.
func Chain(prev *Entry, e Entry) Entry {
	if prev == nil {
		e.Seq, e.PrevHash = 1, ""
	} else {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.Actor = validUTF8(e.Actor)
	e.Action = validUTF8(e.Action)
	e.Target = validUTF8(e.Target)
	e.RequestID = validUTF8(e.RequestID)
	e.Outcome = validUTF8(e.Outcome)
	e.Summary = validUTF8(e.Summary)
	e.Before = normalizeRaw(e.Before)
	e.After = normalizeRaw(e.After)
	e.Hash = hashOf(e)
	return e
}

// Canonical returns the bytes whose SHA-256 is an entry's Hash. It is a
// single-line JSON object with the fields in this fixed order and no
// insignificant whitespace:
//
//	{"v":1,"seq":N,"time":"2006-01-02T15:04:05.000000000Z","actor":S,
//	 "action":S,"target":S,"request_id":S,"outcome":S,"before":J,
//	 "after":J,"prev_hash":S}
//
// "v" is the format version. Strings are encoded as encoding/json encodes
// them (<, > and & escaped). Time is in UTC with nine fractional digits.
// J is null when the value is empty, else the JSON value compacted with <,
// > and & (and U+2028, U+2029) escaped, so a store that re-encodes the
// entry with encoding/json defaults or re-indents it does not break the
// chain; a value that is not valid JSON is encoded as a JSON string of its
// bytes. Hash itself is not included.
func Canonical(e Entry) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(e.Before) + len(e.After))
	b.WriteString(`{"v":1,"seq":`)
	b.WriteString(strconv.FormatUint(e.Seq, 10))
	b.WriteString(`,"time":"`)
	b.WriteString(e.Time.UTC().Format(canonicalTime))
	b.WriteString(`","actor":`)
	writeString(&b, e.Actor)
	b.WriteString(`,"action":`)
	writeString(&b, e.Action)
	b.WriteString(`,"target":`)
	writeString(&b, e.Target)
	b.WriteString(`,"request_id":`)
	writeString(&b, e.RequestID)
	b.WriteString(`,"outcome":`)
	writeString(&b, e.Outcome)
	if e.Summary != "" {
		b.WriteString(`,"summary":`)
		writeString(&b, e.Summary)
	}
	b.WriteString(`,"before":`)
	b.Write(canonicalRaw(e.Before))
	b.WriteString(`,"after":`)
	b.Write(canonicalRaw(e.After))
	b.WriteString(`,"prev_hash":`)
	writeString(&b, e.PrevHash)
	b.WriteByte('}')
	return b.Bytes()
}

func hashOf(e Entry) string {
	sum := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(sum[:])
}

func writeString(b *bytes.Buffer, s string) {
	// Marshalling a string cannot fail.
	out, _ := json.Marshal(s)
	b.Write(out)
}

// canonicalRaw is the canonical text of a Before or After value.
func canonicalRaw(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		out, _ := json.Marshal(string(raw))
		return out
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes()
}

// normalizeRaw returns raw as Chain stores it: exactly its canonical text,
// or nil for an empty or null value.
func normalizeRaw(raw json.RawMessage) json.RawMessage {
	c := canonicalRaw(raw)
	if string(c) == "null" {
		return nil
	}
	return json.RawMessage(c)
}

// validUTF8 replaces each byte that is not part of valid UTF-8 with U+FFFD,
// as encoding/json does, so the stored text is exactly what was hashed.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}
