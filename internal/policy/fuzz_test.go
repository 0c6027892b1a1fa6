package policy

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that Validate and Effective
// never panic on what it accepts, and that the canonical form is stable:
// Marshal(Parse(Marshal(o))) == Marshal(o).
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/org.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("rings: [a, b]\n"))
	f.Add([]byte("groups:\n  - name: g\n    selector: {hosts: [x]}\n    policy: {auto_approve: []}\n"))
	f.Add([]byte("teams:\n  - name: t\n    policy:\n      holds: [{package: 'a*', reason: r, until: 2026-01-02T03:04:05+02:00}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		if err != nil {
			return
		}
		_ = o.Validate(Hooks{})
		host := HostInfo{ID: "x", Hostname: "web-1", Labels: map[string]string{"env": "prod", "app": "payments", "role": "web"}}
		e := o.Effective(host)
		_, _ = e.Policy.AutoApprove(ChangeFacts{Severity: "high", SecurityOnly: true, AgeDays: 5, Ring: e.Ring}, o.Rings)
		_, _ = e.Policy.Held("openssl", time.Unix(0, 0))
		_ = o.MatchesNothing([]HostInfo{host})

		first, err := Marshal(o)
		if err != nil {
			return // e.g. a key yaml cannot write back; not a parser bug
		}
		back, err := Parse(first)
		if err != nil {
			t.Fatalf("Parse(Marshal(o)) failed: %v\ninput:\n%q\nmarshalled:\n%s", err, data, first)
		}
		second, err := Marshal(back)
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("canonical form is not stable\ninput: %q\nfirst:\n%s\nsecond:\n%s", data, first, second)
		}
		if d := Diff(back, o); len(d) != 0 {
			t.Fatalf("Diff(Parse(Marshal(o)), o) = %v; want nothing\ninput: %q", d, data)
		}
	})
}
