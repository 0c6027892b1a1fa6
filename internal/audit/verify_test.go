package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"slices"
	"testing"
)

func TestAChainOf1000EntriesVerifies(t *testing.T) {
	pub, priv := testKey(t)
	es := buildChain(1000)
	cps := []Checkpoint{SignCheckpoint(priv, es[499], base), SignCheckpoint(priv, es[999], base.Add(1e9))}
	if p := Verify(es, cps, pub); p != nil {
		t.Fatalf("intact chain: %v", p)
	}
	if es[0].PrevHash != "" || es[0].Seq != 1 || es[999].Seq != 1000 || es[500].PrevHash != es[499].Hash {
		t.Fatalf("chain not linked: %+v", es[:2])
	}
	if got := es[0].Time; got.Nanosecond()%1e6 != 0 || got.Location().String() != "UTC" {
		t.Errorf("time %v not truncated to the millisecond in UTC", got)
	}
}

func TestVerifyNamesTheFirstBadEntryForEachKindOfTampering(t *testing.T) {
	pub, priv := testKey(t)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	intact := buildChain(1000)
	cp800 := SignCheckpoint(priv, intact[799], base.Add(800e9))
	cp1000 := SignCheckpoint(priv, intact[999], base.Add(1000e9))

	tests := []struct {
		name   string
		tamper func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint)
		seq    uint64
		kind   string
	}{
		{"an edited actor of entry 500 is an edit at 500", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[499].Actor = "mallory"
			return es, cps
		}, 500, KindEdited},
		{"an edited after of entry 499 is an edit at 499", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[498].After = json.RawMessage(`{"ring":9}`)
			return es, cps
		}, 499, KindEdited},
		{"an edited time is an edit", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[499].Time = es[499].Time.Add(1e6)
			return es, cps
		}, 500, KindEdited},
		{"an edited seq is an edit at its position", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[499].Seq = 7
			return es, cps
		}, 500, KindEdited},
		{"an edit with a recomputed hash is caught by its successor", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			e := es[499]
			e.Outcome = "ok"
			e.Actor = "mallory"
			es[499] = Chain(&es[498], e)
			return es, cps
		}, 500, KindEdited},
		{"a deleted entry 500 is reported at 501", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return slices.Delete(es, 499, 500), cps
		}, 501, KindDeleted},
		{"a deleted first entry is reported at 2", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return es[1:], cps
		}, 2, KindDeleted},
		{"deleted entries 500 to 509 are reported at 510", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return slices.Delete(es, 499, 509), cps
		}, 510, KindDeleted},
		{"a forged entry with a recomputed hash inserted at 500 is an insertion at 500", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			forged := Chain(&es[498], Entry{Time: base, Actor: "admin", Action: "role.grant", Target: "user:mallory", Outcome: "ok"})
			return slices.Insert(es, 499, forged), cps
		}, 500, KindInserted},
		{"a forged first entry is an insertion at 1", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return slices.Insert(es, 0, Chain(nil, Entry{Time: base, Actor: "admin"})), cps
		}, 1, KindInserted},
		{"swapped entries 500 and 501 are reordered at 500", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[499], es[500] = es[500], es[499]
			return es, cps
		}, 500, KindReordered},
		{"swapped entries 300 and 700 are reordered at 300", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es[299], es[699] = es[699], es[299]
			return es, cps
		}, 300, KindReordered},
		{"a tail rewritten after 500 is caught by the checkpoint at 800", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es = slices.Delete(es, 499, 500) // drop 500 and renumber and rehash the rest
			rechain(es, 499)
			return es, cps
		}, 800, KindTruncated},
		{"a truncation to 700 is caught by the checkpoint at 800", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return es[:700], cps
		}, 701, KindTruncated},
		{"a deleted last entry is caught by the checkpoint at 1000", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			return es[:999], cps
		}, 1000, KindTruncated},
		{"a checkpoint with an altered hash is forged", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			cps[0].Hash = es[899].Hash
			return es, cps
		}, 800, KindBadCheckpoint},
		{"a checkpoint with an altered time is forged", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			cps[0].Time = cps[0].Time.Add(1)
			return es, cps
		}, 800, KindBadCheckpoint},
		{"a checkpoint signed by another key is forged", func(es []Entry, cps []Checkpoint) ([]Entry, []Checkpoint) {
			es = es[:700]
			return es, []Checkpoint{SignCheckpoint(otherKey, es[699], base)}
		}, 700, KindBadCheckpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, cps := tt.tamper(clone(intact), []Checkpoint{cp800, cp1000})
			p := Verify(es, cps, pub)
			if p == nil {
				t.Fatal("tampering not detected")
			}
			if p.Seq != tt.seq || p.Kind != tt.kind {
				t.Fatalf("got %v; want %s at seq %d", p, tt.kind, tt.seq)
			}
			if p.Detail == "" {
				t.Error("problem has no detail")
			}
		})
	}
}

func TestARewrittenTailGoesUnnoticedWithoutACheckpoint(t *testing.T) {
	// This documents the limit of the chain alone, and why checkpoints exist.
	es := buildChain(1000)[:999]
	rechain(es, 499)
	if p := Verify(es, nil, nil); p != nil {
		t.Fatalf("consistent rewrite reported without checkpoints: %v", p)
	}
}

func TestVerifyRejectsCheckpointsWithoutAKey(t *testing.T) {
	_, priv := testKey(t)
	es := buildChain(10)
	cps := []Checkpoint{SignCheckpoint(priv, es[9], base)}
	for _, pub := range []ed25519.PublicKey{nil, ed25519.PublicKey("short")} {
		if p := Verify(es, cps, pub); p == nil || p.Kind != KindBadCheckpoint {
			t.Errorf("pub %q: got %v; want bad-checkpoint", pub, p)
		}
	}
}

func TestVerifyAcceptsAnEmptyLogAndItsCheckpoint(t *testing.T) {
	pub, priv := testKey(t)
	if p := Verify(nil, []Checkpoint{SignCheckpoint(priv, Entry{}, base)}, pub); p != nil {
		t.Fatal(p)
	}
	cp := SignCheckpoint(priv, buildChain(3)[2], base)
	if p := Verify(nil, []Checkpoint{cp}, pub); p == nil || p.Kind != KindTruncated || p.Seq != 1 {
		t.Fatalf("emptied log: got %v; want truncated at 1", p)
	}
}

func TestVerifyToleratesReencodingByTheStore(t *testing.T) {
	// The server stores each entry with encoding/json defaults (which escape
	// <, > and &) and may pretty-print it; neither changes what was hashed.
	es := buildChain(20)
	for i := range es {
		b, err := json.MarshalIndent(es[i], "", "   ")
		if err != nil {
			t.Fatal(err)
		}
		var back Entry
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		es[i] = back
	}
	if string(es[3].Before) == string(buildChain(4)[3].Before) {
		t.Fatal("test is not exercising re-encoding: before unchanged")
	}
	if p := Verify(es, nil, nil); p != nil {
		t.Fatal(p)
	}
}

func TestVerifyRejectsValuesChainNeverWrites(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(e *Entry)
	}{
		{"invalid JSON in before", func(e *Entry) { e.Before = json.RawMessage(`{"a":`) }},
		{"invalid JSON in after", func(e *Entry) { e.After = json.RawMessage(`nope`) }},
		{"invalid UTF-8 in actor", func(e *Entry) { e.Actor = "\xff" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := buildChain(5)
			tt.tamper(&es[2])
			es[2].Hash = hashOf(es[2]) // even with a matching hash
			rechain(es, 3)
			if p := Verify(es, nil, nil); p == nil || p.Seq != 3 || p.Kind != KindEdited {
				t.Fatalf("got %v; want edited at 3", p)
			}
		})
	}
}

func TestChainNormalizesWhatCanonicalCannotRepresent(t *testing.T) {
	e := Chain(nil, Entry{
		Time:   base,
		Actor:  "bad\xffbyte",
		Before: json.RawMessage(`not json`),
		After:  json.RawMessage(`null`),
	})
	if e.Actor != "bad\uFFFDbyte" || string(e.Before) != `"not json"` || e.After != nil {
		t.Fatalf("got actor %q before %s after %s", e.Actor, e.Before, e.After)
	}
	if p := Verify([]Entry{e}, nil, nil); p != nil {
		t.Fatal(p)
	}
}
