package release

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	newBinary = []byte("\x7fELF new agent v1.3.0")
	oldBinary = []byte("\x7fELF old agent v1.2.0")
)

func keys(t *testing.T, name string) (string, string) {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func signed(t *testing.T, skey, version string, allowDowngrade bool) []byte {
	t.Helper()
	r, err := New(newBinary, version, "linux", "amd64", allowDowngrade)
	if err != nil {
		t.Fatal(err)
	}
	file, err := Sign(r, skey)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

func TestTheReleaseFileIsASignedNoteNamingTheBinary(t *testing.T) {
	skey, _ := keys(t, "patchbay-release")
	file := string(signed(t, skey, "v1.3.0", false))
	// sha256 of "\x7fELF new agent v1.3.0", computed with sha256sum.
	want := "patchbay-agent release\nversion v1.3.0\nos linux\narch amd64\nsize 21\n" +
		"sha256 b0c552b3db2468415ae2d5489b05881c7b9f170b95785e22c8218de2896c736a\nallow-downgrade false\n\n— patchbay-release "
	if !strings.HasPrefix(file, want) {
		t.Errorf("release file:\n%s\nwant it to start:\n%s", file, want)
	}
}

func TestVerifyAcceptsANewerBinarySignedByThePinnedKey(t *testing.T) {
	skey, vkey := keys(t, "patchbay-release")
	r, err := Verify(signed(t, skey, "v1.3.0", false), vkey, newBinary, "v1.2.0", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "v1.3.0" || r.Size != 21 || r.AllowDowngrade {
		t.Errorf("release %+v", r)
	}
}

func TestVerifyRefuses(t *testing.T) {
	skey, vkey := keys(t, "patchbay-release")
	otherSkey, _ := keys(t, "patchbay-release") // same name, another key
	good := signed(t, skey, "v1.3.0", false)
	for _, tc := range []struct {
		name    string
		file    []byte
		binary  []byte
		running string
		arch    string
		want    error
	}{
		{"a binary signed by another key", signed(t, otherSkey, "v1.3.0", false), newBinary, "v1.2.0", "amd64", ErrUnknownKey},
		{"a tampered binary", good, append(bytes.Clone(newBinary[:20]), 'X'), "v1.2.0", "amd64", ErrHash},
		{"a truncated binary", good, newBinary[:20], "v1.2.0", "amd64", ErrHash},
		{"tampered metadata", bytes.Replace(good, []byte("allow-downgrade false"), []byte("allow-downgrade true "), 1), newBinary, "v1.4.0", "amd64", ErrBadSignature},
		{"a downgrade", good, newBinary, "v1.4.0", "amd64", ErrDowngrade},
		{"the running version again", good, newBinary, "v1.3.0", "amd64", ErrDowngrade},
		{"another architecture", good, newBinary, "v1.2.0", "arm64", ErrWrongTarget},
		{"an unsigned file", []byte("patchbay-agent release\n"), newBinary, "v1.2.0", "amd64", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.file, vkey, tc.binary, tc.running, "linux", tc.arch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyAcceptsADowngradeTheReleaseAllows(t *testing.T) {
	skey, vkey := keys(t, "patchbay-release")
	if _, err := Verify(signed(t, skey, "v1.3.0", true), vkey, newBinary, "v1.4.0", "linux", "amd64"); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesAVersionThatIsNotSemantic(t *testing.T) {
	if _, err := New(newBinary, "1.3", "linux", "amd64", false); err == nil {
		t.Fatal("New accepted version 1.3")
	}
}

func TestInstallSwapsAndRevertsAfterTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(path, oldBinary, 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if err := Install(path, newBinary, Release{Version: "v1.3.0"}, deadline); err != nil {
		t.Fatal(err)
	}
	mustHold(t, path, newBinary)
	mustHold(t, PrevPath(path), oldBinary)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
		t.Errorf("new binary mode %v, want 0755", fi.Mode().Perm())
	}
	if reverted, err := RevertIfOverdue(path, deadline); err != nil || reverted {
		t.Fatalf("at the deadline: reverted=%v err=%v; want the trial to go on", reverted, err)
	}
	if reverted, err := RevertIfOverdue(path, deadline.Add(time.Second)); err != nil || !reverted {
		t.Fatalf("after the deadline: reverted=%v err=%v; want the previous binary back", reverted, err)
	}
	mustHold(t, path, oldBinary)
	if reverted, err := RevertIfOverdue(path, deadline.Add(time.Hour)); err != nil || reverted {
		t.Fatalf("a second check reverted=%v err=%v; want nothing to do", reverted, err)
	}
}

func TestAConfirmedBinaryStays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(path, oldBinary, 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if err := Install(path, newBinary, Release{Version: "v1.3.0"}, deadline); err != nil {
		t.Fatal(err)
	}
	if err := Confirm(path); err != nil {
		t.Fatal(err)
	}
	if reverted, err := RevertIfOverdue(path, deadline.Add(time.Hour)); err != nil || reverted {
		t.Fatalf("reverted=%v err=%v after confirmation", reverted, err)
	}
	mustHold(t, path, newBinary)
}

func mustHold(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s holds %q (%v), want %q", path, got, err, want)
	}
}

func TestCheckVerifiesTheNoteWithoutTheBinary(t *testing.T) {
	skey, vkey := keys(t, "patchbay-release")
	otherSkey, _ := keys(t, "patchbay-release")
	r, err := Check(signed(t, skey, "v1.3.0", false), vkey, "v1.2.0", "linux", "amd64")
	if err != nil || r.Version != "v1.3.0" || r.Size != 21 {
		t.Fatalf("Check = %+v, %v; want v1.3.0 of 21 bytes", r, err)
	}
	for _, tc := range []struct {
		name    string
		file    []byte
		running string
		want    error
	}{
		{"another key", signed(t, otherSkey, "v1.3.0", false), "v1.2.0", ErrUnknownKey},
		{"a downgrade", signed(t, skey, "v1.3.0", false), "v1.3.1", ErrDowngrade},
	} {
		if _, err := Check(tc.file, vkey, tc.running, "linux", "amd64"); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDescribeReadsANoteWithoutAKey(t *testing.T) {
	skey, _ := keys(t, "patchbay-release")
	r, err := Describe(signed(t, skey, "v1.3.0", true))
	// sha256 of "\x7fELF new agent v1.3.0", computed with sha256sum.
	want := Release{Version: "v1.3.0", OS: "linux", Arch: "amd64", Size: 21,
		SHA256: "b0c552b3db2468415ae2d5489b05881c7b9f170b95785e22c8218de2896c736a", AllowDowngrade: true}
	if err != nil || r != want {
		t.Fatalf("Describe = %+v, %v; want %+v", r, err, want)
	}
	if !r.Matches(newBinary) || r.Matches(oldBinary) || r.Matches(newBinary[:20]) {
		t.Error("Matches: want true for the signed binary only")
	}
	for name, file := range map[string]string{
		"no signature block": "patchbay-agent release\nversion v1.3.0\n",
		"another header":     "some release\nversion v1.3.0\n\n— k sig\n",
		"a missing field":    "patchbay-agent release\nversion v1.3.0\nos linux\n\n— k sig\n",
	} {
		if _, err := Describe([]byte(file)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
