package audit

import "testing"

// BenchmarkVerify10000 measures verifying a 10,000-entry log.
func BenchmarkVerify10000(b *testing.B) {
	pub, priv := testKey(b)
	es := buildChain(10000)
	cps := []Checkpoint{SignCheckpoint(priv, es[9999], base)}
	b.ResetTimer()
	for b.Loop() {
		if p := Verify(es, cps, pub); p != nil {
			b.Fatal(p)
		}
	}
}
