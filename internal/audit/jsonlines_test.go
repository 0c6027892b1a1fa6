package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestJSONLinesRoundTrip(t *testing.T) {
	es := buildChain(50)
	var buf bytes.Buffer
	if err := WriteJSONLines(&buf, es); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 50 {
		t.Fatalf("%d lines; want 50", got)
	}
	back, err := ReadJSONLines(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, es) {
		for i := range es {
			if !reflect.DeepEqual(back[i], es[i]) {
				t.Fatalf("entry %d changed in the round trip:\n got %+v\nwant %+v", i+1, back[i], es[i])
			}
		}
	}
	if p := Verify(back, nil, nil); p != nil {
		t.Fatal(p)
	}
}

func TestReadJSONLinesOfNothingIsNoEntries(t *testing.T) {
	es, err := ReadJSONLines(strings.NewReader(""))
	if err != nil || len(es) != 0 {
		t.Fatalf("got %v, %v", es, err)
	}
}

func TestReadJSONLinesIsStrict(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSONLines(&buf, buildChain(1)); err != nil {
		t.Fatal(err)
	}
	good := strings.TrimSuffix(buf.String(), "\n")
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct{ name, input, wantErr string }{
		{"a blank line", good + "\n\n" + good + "\n", "line 2: blank line"},
		{"an array", "[" + good + "]", "not a JSON object"},
		{"null", "null", "not a JSON object"},
		{"an unknown key", replace(`"seq":1`, `"seq":1,"extra":true`), `unknown key "extra"`},
		{"a key in other case", replace(`"seq":1`, `"SEQ":1`), `unknown key "SEQ"`},
		{"a duplicate key", replace(`"seq":1`, `"seq":1,"seq":2`), `duplicate key "seq"`},
		{"a missing key", replace(`"request_id":"req-000000",`, ``), `missing key "request_id"`},
		{"a null actor", replace(`"actor":"user:0"`, `"actor":null`), "actor: null"},
		{"a negative seq", replace(`"seq":1`, `"seq":-1`), "seq:"},
		{"a fractional seq", replace(`"seq":1`, `"seq":1.5`), "seq:"},
		{"a seq as text", replace(`"seq":1`, `"seq":"1"`), "seq:"},
		{"a bad time", replace(`"time":"`, `"time":"x`), "time:"},
		{"a number for a string", replace(`"actor":"user:0"`, `"actor":0`), "actor:"},
		{"trailing data", good + " {}", "trailing data"},
		{"two objects on a line", good + good, "trailing data"},
		{"a truncated line", good[:len(good)-5], "unexpected EOF"},
		{"a line too long", strings.Repeat(" ", MaxLineBytes+1), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := ReadJSONLines(strings.NewReader(tt.input))
			if err == nil {
				t.Fatalf("accepted: %+v", es)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

// TestGoldenLogVerifiesAndIsReproduced pins the canonical encoding: a log
// written by an earlier build must keep verifying, and the same inputs must
// keep producing byte-identical entries and checkpoints. Regenerate with
// -update only for a deliberate format change (and bump "v").
func TestGoldenLogVerifiesAndIsReproduced(t *testing.T) {
	pub, priv := testKey(t)
	es := buildChain(20)
	cps := []Checkpoint{SignCheckpoint(priv, es[9], base.Add(10e9)), SignCheckpoint(priv, es[19], base.Add(20e9))}
	var log bytes.Buffer
	if err := WriteJSONLines(&log, es); err != nil {
		t.Fatal(err)
	}
	cpJSON, err := json.MarshalIndent(cps, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	logPath, cpPath := filepath.Join("testdata", "chain.jsonl"), filepath.Join("testdata", "checkpoints.json")
	if *update {
		writeFile(t, logPath, log.Bytes())
		writeFile(t, cpPath, append(cpJSON, '\n'))
	}

	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	golden, err := ReadJSONLines(f)
	if err != nil {
		t.Fatal(err)
	}
	var goldenCPs []Checkpoint
	if err := json.Unmarshal(readFile(t, cpPath), &goldenCPs); err != nil {
		t.Fatal(err)
	}
	if p := Verify(golden, goldenCPs, pub); p != nil {
		t.Fatalf("golden log: %v", p)
	}
	if !bytes.Equal(readFile(t, logPath), log.Bytes()) {
		t.Error("Chain no longer reproduces testdata/chain.jsonl: the canonical encoding changed")
	}
	if !bytes.Equal(bytes.TrimSpace(readFile(t, cpPath)), cpJSON) {
		t.Error("SignCheckpoint no longer reproduces testdata/checkpoints.json")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
