package pkgmgr

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/internal/golden"
)

// recordingRunner runs commands for real and keeps what each printed, so a
// test can compare the real tool's output with the captured golden file the
// parser tests read.
type recordingRunner struct {
	Runner
	calls *[]recordedCall
}

func newRecordingRunner() *recordingRunner {
	return &recordingRunner{Runner: ExecRunner{}, calls: new([]recordedCall)}
}

// WithEnv keeps recording into the same list when the manager adds
// environment (dnf under a root runs with its own HOME).
func (r *recordingRunner) WithEnv(env ...string) Runner {
	return &recordingRunner{Runner: r.Runner.(envRunner).WithEnv(env...), calls: r.calls}
}

type recordedCall struct {
	argv   []string
	stdout []byte
}

func (r *recordingRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := r.Runner.Run(ctx, name, args...)
	*r.calls = append(*r.calls, recordedCall{argv: append([]string{name}, args...), stdout: out})
	return out, err
}

// output is what the call whose argv contains word printed.
func (r *recordingRunner) output(t *testing.T, word string) []byte {
	t.Helper()
	for _, c := range *r.calls {
		if slices.Contains(c.argv, word) {
			return c.stdout
		}
	}
	t.Fatalf("no command with %q ran; ran %v", word, *r.calls)
	return nil
}

// volatile is what changes from run to run in the tools' output: the image
// root's temporary path, dates and metadata ages.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`Last metadata expiration check: [^\n]*`), "Last metadata expiration check: (time)"},
	{regexp.MustCompile(`\d{1,2}:\d{2}(:\d{2})? ago`), "(age) ago"},
}

func normalizeCapture(out []byte, root string) []byte {
	out = bytes.ReplaceAll(out, []byte(root), []byte("/ROOT"))
	for _, v := range volatile {
		out = v.re.ReplaceAll(out, []byte(v.repl))
	}
	return out
}

// checkCapture compares a real tool's output with testdata/<file>, or
// writes it there under -update. The file is then one of the fixtures that
// TestParsersMatchGoldenFiles parses, so the parsers are tested on what
// the tools really print, not on text written in the parser's own image.
func checkCapture(t *testing.T, file string, out []byte, root string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", file), normalizeCapture(out, root), *update)
}
