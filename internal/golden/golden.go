package golden

import (
	"bytes"
	"os"
	"testing"
)

// Check compares got with the file at path; with update it writes got there
// first. A missing file or a difference fails t and says how to recapture.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the output differs from %s; rerun with -update and review the diff:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
