package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestCheckWritesUnderUpdateAndComparesOtherwise(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	r := &recorder{TB: t}
	Check(r, path, []byte("one\n"), false)
	if !r.failed {
		t.Error("a missing golden file passed")
	}
	r = &recorder{TB: t}
	Check(r, path, []byte("one\n"), true)
	if b, err := os.ReadFile(path); r.failed || err != nil || string(b) != "one\n" {
		t.Fatalf("-update wrote %q (%v, failed %v), want %q", b, err, r.failed, "one\n")
	}
	Check(r, path, []byte("one\n"), false)
	if r.failed {
		t.Error("the same output failed")
	}
	Check(r, path, []byte("two\n"), false)
	if !r.failed {
		t.Error("a different output passed")
	}
}
