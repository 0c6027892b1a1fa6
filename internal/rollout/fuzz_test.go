package rollout

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/state-midrollout.json")

// midRollout is a state with hosts in every status, written to testdata as
// the fuzz seed and checked against it.
func midRollout(t testing.TB) *State {
	p := basePlan(6)
	p.Rings = []string{"test", "prod"}
	p.Hosts[4].Ring, p.Hosts[5].Ring = 1, 1
	p.Hosts[0].NeedsReboot = true
	p.Hosts[1].RestartOnly = []string{"nginx"}
	p.BatchSize, p.FailureBudget, p.AutoRollback = 4, 2, true
	p.HealthChecks = []string{"http"}
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	s.Step(t0)
	installed := map[string]string{"openssl": "3.0.15-1"}
	_ = s.HostResult(t0, "ha", PhaseInstall, true, installed, "")
	_ = s.HostResult(t0, "hb", PhaseInstall, true, installed, "")
	_ = s.HostResult(t0, "hc", PhaseInstall, false, nil, "postinst failed")
	_ = s.HealthResult(t0, 0, "http", true)
	s.Step(t0.Add(time.Minute))
	return s
}

func TestMidRolloutGolden(t *testing.T) {
	got, err := json.MarshalIndent(midRollout(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "state-midrollout.json"), got, *update)
}

// FuzzStateJSON feeds arbitrary bytes to the state decoder (stored records
// may be corrupt): it must refuse them or yield a state the engine can
// drive and re-encode without panicking.
func FuzzStateJSON(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "state-midrollout.json"))
	if err != nil {
		f.Fatal(err)
	}
	var compact bytes.Buffer // the indented file is for review; the fuzzer does better on the compact form
	if err := json.Compact(&compact, seed); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		now := t0
		for i := range 3 {
			for _, a := range s.Step(now) {
				if a.HostID != "" {
					_ = s.HostResult(now, a.HostID, a.Phase, i%2 == 0, map[string]string{}, "fuzz")
				}
			}
			for c := range s.p.Plan.HealthChecks {
				_ = s.HealthResult(now, s.p.Wave, s.p.Plan.HealthChecks[c], true)
			}
			now = now.Add(time.Hour)
		}
		out, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var back State
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode of a driven state: %v\n%s", err, out)
		}
	})
}
