package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheck: an archive from anywhere never panics the reader, and one
// that checks out holds only plain names within the limits.
func FuzzCheck(f *testing.F) {
	src := f.TempDir()
	for _, name := range []string{"ca.crt", "ca.key", "job.key"} {
		os.WriteFile(filepath.Join(src, name), []byte(name), 0o600)
	}
	out := filepath.Join(f.TempDir(), "seed.tar.gz")
	if _, err := Write(context.Background(), out, src, nil, at); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(out)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Check(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(m.Files) > maxFiles {
			t.Fatalf("accepted %d files", len(m.Files))
		}
		for _, file := range m.Files {
			if file.Name != filepath.Base(file.Name) || file.Name[0] == '.' || file.Mode&^0o644 != 0 {
				t.Fatalf("accepted file %q mode %v", file.Name, file.Mode)
			}
		}
	})
}
