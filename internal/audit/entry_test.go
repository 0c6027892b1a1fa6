package audit

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCanonicalIsTheDocumentedEncoding(t *testing.T) {
	e := Entry{
		Seq:       42,
		Time:      time.Date(2024, 5, 1, 12, 0, 0, 5e6, time.FixedZone("CEST", 2*3600)),
		Actor:     "alice",
		Action:    "POST /api/v1/org/apply",
		Target:    "policy/<prod>",
		RequestID: "r1",
		Outcome:   "ok",
		Before:    json.RawMessage("{\n  \"b\": 1, \"a\": \"x&y\"\n}"),
		PrevHash:  "ab",
		Hash:      "ignored",
	}
	want := `{"v":1,"seq":42,"time":"2024-05-01T10:00:00.005000000Z","actor":"alice","action":"POST /api/v1/org/apply",` +
		`"target":"policy/\u003cprod\u003e","request_id":"r1","outcome":"ok","before":{"b":1,"a":"x\u0026y"},"after":null,"prev_hash":"ab"}`
	if got := string(Canonical(e)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestChainLinksEntries(t *testing.T) {
	first := Chain(nil, Entry{Seq: 99, PrevHash: "forged", Time: time.Date(2024, 1, 1, 0, 0, 0, 1_999_999, time.UTC)})
	if first.Seq != 1 || first.PrevHash != "" || first.Time.Nanosecond() != 1_000_000 {
		t.Fatalf("first entry: %+v", first)
	}
	second := Chain(&first, Entry{Time: first.Time})
	if second.Seq != 2 || second.PrevHash != first.Hash || second.Hash == first.Hash || len(second.Hash) != 64 {
		t.Fatalf("second entry: %+v", second)
	}
}
