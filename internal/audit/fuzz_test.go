package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadJSONLinesAndVerify feeds arbitrary logs to the reader and the
// verifier: neither may panic, and a log that reads must survive a
// write-and-read round trip with the same verdict.
func FuzzReadJSONLinesAndVerify(f *testing.F) {
	pub, _ := testKey(f)
	golden, err := os.ReadFile(filepath.Join("testdata", "chain.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	var cps []Checkpoint
	cpJSON, err := os.ReadFile(filepath.Join("testdata", "checkpoints.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(cpJSON, &cps); err != nil {
		f.Fatal(err)
	}
	// Small seeds: the fuzzer minimizes every input that finds new coverage,
	// and minimizing the whole 20-entry log stalls it for a minute.
	lines := bytes.SplitAfter(golden, []byte("\n"))
	f.Add(bytes.Join(lines[:2], nil))
	f.Add(lines[3])
	f.Add(append(append([]byte(nil), lines[1]...), lines[0]...))
	f.Add([]byte(`{"seq":1,"time":"2024-05-01T10:00:00Z","actor":"","action":"","target":"","request_id":"","outcome":"","before":null,"after":[1,{"a":"<"}],"prev_hash":"","hash":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := ReadJSONLines(bytes.NewReader(data))
		if err != nil {
			return
		}
		p := Verify(es, cps, pub)
		Verify(es, nil, nil)
		if len(es) > 0 {
			Syslog(es[0], "h", "a")
		}
		var buf bytes.Buffer
		if err := WriteJSONLines(&buf, es); err != nil {
			return // e.g. a time beyond year 9999, which JSON cannot carry
		}
		back, err := ReadJSONLines(&buf)
		if err != nil {
			t.Fatalf("re-reading what WriteJSONLines wrote: %v\n%s", err, buf.Bytes())
		}
		if q := Verify(back, cps, pub); !sameProblem(p, q) {
			t.Fatalf("verdict changed in the round trip: %v then %v", p, q)
		}
	})
}

func sameProblem(p, q *Problem) bool {
	if p == nil || q == nil {
		return p == q
	}
	return *p == *q
}

// FuzzSyslog checks that no value can break the line or the structured
// data, and that every value reads back as written (controls as spaces).
func FuzzSyslog(f *testing.F) {
	f.Add("alice", "POST /api/v1/org/apply", "host/1", "ok", "pb-1", "patchbay")
	f.Add("eve\"] [x@1 a=\"b\"]\n", `a\`, "\r\n\u2028\x00\x7f\xff", `error: ]"\`, "host name", "")
	f.Fuzz(func(t *testing.T, actor, action, target, outcome, host, app string) {
		e := Chain(nil, Entry{Time: base, Actor: actor, Action: action, Target: target, Outcome: outcome})
		line := Syslog(e, host, app)
		if strings.ContainsAny(line, "\r\n\x00\u2028\u2029") || !utf8.ValidString(line) {
			t.Fatalf("unsafe line %q", line)
		}
		params, _ := parseSD(t, line)
		for name, v := range map[string]string{"actor": e.Actor, "action": e.Action, "target": e.Target, "outcome": e.Outcome} {
			if want := strings.Map(func(r rune) rune {
				if isControl(r) {
					return ' '
				}
				return r
			}, v); params[name] != want {
				t.Fatalf("param %s = %q; want %q", name, params[name], want)
			}
		}
	})
}
