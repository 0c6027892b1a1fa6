package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one JSON line that ReadJSONLines accepts.
const MaxLineBytes = 4 << 20

// WriteJSONLines writes es as JSON lines, one entry per line, with the
// field names of Entry's JSON tags. Before and After are written as stored,
// without HTML escaping, so the bytes read back are the bytes hashed.
func WriteJSONLines(w io.Writer, es []Entry) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range es {
		if err := enc.Encode(&es[i]); err != nil {
			return fmt.Errorf("write audit entry %d: %w", es[i].Seq, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write audit entries: %w", err)
	}
	return nil
}

// ReadJSONLines reads entries written by WriteJSONLines. It is strict: each
// line must be one JSON object with exactly the keys WriteJSONLines writes,
// spelled exactly, each once ("before", "after" and "summary" optional), with values of
// the right type and no nulls except for "before" and "after"; blank lines
// and trailing data are errors. It does not check the chain; use Verify.
func ReadJSONLines(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var es []Entry
	line := 0
	for sc.Scan() {
		line++
		e, err := decodeLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("audit log line %d: %w", line, err)
		}
		es = append(es, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("audit log line %d: longer than %d bytes", line+1, MaxLineBytes)
		}
		return nil, fmt.Errorf("read audit log after line %d: %w", line, err)
	}
	return es, nil
}

// requiredKeys are the keys every line must carry.
var requiredKeys = []string{"seq", "time", "actor", "action", "target", "request_id", "outcome", "prev_hash", "hash"}

func decodeLine(line []byte) (Entry, error) {
	var e Entry
	if len(bytes.TrimSpace(line)) == 0 {
		return e, errors.New("blank line")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil {
		return e, err
	} else if tok != json.Delim('{') {
		return e, errors.New("not a JSON object")
	}
	seen := make(map[string]bool, 11)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, err
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return e, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return e, fmt.Errorf("%s: %w", key, err)
		}
		if err := setField(&e, key, raw); err != nil {
			return e, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return e, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return e, errors.New("trailing data after the JSON object")
	}
	for _, k := range requiredKeys {
		if !seen[k] {
			return e, fmt.Errorf("missing key %q", k)
		}
	}
	return e, nil
}

func setField(e *Entry, key string, raw json.RawMessage) error {
	if key == "before" || key == "after" {
		if string(raw) == "null" {
			raw = nil
		}
		if key == "before" {
			e.Before = raw
		} else {
			e.After = raw
		}
		return nil
	}
	if string(raw) == "null" {
		return fmt.Errorf("%s: null", key)
	}
	var dst any
	switch key {
	case "seq":
		dst = &e.Seq
	case "time":
		dst = &e.Time
	case "actor":
		dst = &e.Actor
	case "action":
		dst = &e.Action
	case "target":
		dst = &e.Target
	case "request_id":
		dst = &e.RequestID
	case "outcome":
		dst = &e.Outcome
	case "summary":
		dst = &e.Summary
	case "prev_hash":
		dst = &e.PrevHash
	case "hash":
		dst = &e.Hash
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
