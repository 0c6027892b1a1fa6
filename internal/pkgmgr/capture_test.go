package pkgmgr

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/debtest"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/rpmtest"
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
	got := normalizeCapture(out, root)
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to capture it)", err)
	}
	if !bytes.Equal(normalizeCapture(want, root), got) {
		t.Errorf("the real tool's output differs from %s (a tool upgrade? rerun with -update and review):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestCapturedOutputOfRealApt runs the real apt-get in an image root with
// two upgradable packages and compares what it prints with the fixture the
// apt parser is tested on.
func TestCapturedOutputOfRealApt(t *testing.T) {
	requireTools(t, "apt-get", "dpkg-deb", "dpkg")
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	root := filepath.Join(dir, "root")
	for _, v := range []string{"1.0-1", "1.1-1"} {
		debtest.BuildDeb(t, dir, repo, "pbtest-hello", v)
	}
	debtest.WritePackagesIndex(t, repo)
	debtest.MakeImageRoot(t, root, repo, "pbtest-hello", "1.0-1")

	rec := newRecordingRunner()
	m := Manager{Format: inventory.FormatDpkg, Root: root, Runner: rec}
	if out, err := m.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v\n%s", err, out)
	}
	us, err := m.AvailableUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Name != "pbtest-hello" || us[0].Version != "1.1-1" {
		t.Fatalf("updates = %+v, want pbtest-hello 1.1-1", us)
	}
	checkCapture(t, "apt/captured-simulate-dist-upgrade.txt", rec.output(t, "dist-upgrade"), root)
}

// TestCapturedOutputOfRealDnf does the same for dnf check-update.
func TestCapturedOutputOfRealDnf(t *testing.T) {
	rpmtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	root := filepath.Join(dir, "root")
	rpmtest.BuildBase(t, dir, repo)
	rpmtest.BuildRPM(t, dir, repo, "pbtest-hello", "1.0-1", "")
	rpmtest.BuildRPM(t, dir, repo, "pbtest-hello", "1.1-1", "")
	rpmtest.CreateRepo(t, repo)
	rpmtest.MakeImageRoot(t, root, repo, "pbtest-base-1-1.noarch.rpm", "pbtest-hello-1.0-1.noarch.rpm")

	rec := newRecordingRunner()
	m := Manager{Format: inventory.FormatRPM, Root: root, Runner: rec}
	if out, err := m.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v\n%s", err, out)
	}
	us, err := m.AvailableUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Name != "pbtest-hello" || us[0].Version != "1.1-1" {
		t.Fatalf("updates = %+v, want pbtest-hello 1.1-1", us)
	}
	out := rec.output(t, "check-update")
	if !strings.Contains(string(out), "pbtest-hello") {
		t.Fatalf("dnf check-update printed no pbtest-hello line:\n%s", out)
	}
	checkCapture(t, "dnf/captured-check-update.txt", out, root)
}
