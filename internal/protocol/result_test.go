package protocol

import (
	"strings"
	"testing"
)

func TestJobResultNotRunMustNameTheAgentsSequence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     JobResult
		field string // "" when valid
	}{
		{"a result of a job that ran", JobResult{JobID: "j1", OK: true}, ""},
		{"a job not run with the agent's sequence", JobResult{JobID: "j1", NotRun: true, LastSeq: 7}, ""},
		{"a job not run without a sequence", JobResult{JobID: "j1", NotRun: true}, "not_run"},
		{"a job not run that says ok", JobResult{JobID: "j1", NotRun: true, OK: true, LastSeq: 7}, "not_run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field+": ")):
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
		})
	}
}
