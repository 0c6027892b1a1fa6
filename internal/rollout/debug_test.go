package rollout

import "testing"

func TestDebugScenario(t *testing.T) {
	for seed := range uint64(40) {
		_, out := scenario(t, seed, false)
		t.Log(seed, out)
	}
}
