package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestAgentReleases(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		bin := []byte{0x7f, 'E', 'L', 'F', 0, 1, 2, 0xff}
		r := AgentRelease{Version: "v1.1.0", OS: "linux", Arch: "amd64", Note: []byte("patchbay-agent release\nversion v1.1.0\n\n— k sig\n"),
			SHA256: "abc", Size: 8, Binary: bin, UploadedBy: "alice", UploadedAt: t0}
		if err := db.PutAgentRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.PutAgentRelease(ctx, r); !errors.Is(err, ErrConflict) {
			t.Fatalf("the same release again: %v, want ErrConflict", err)
		}
		arm := r
		arm.Arch = "arm64"
		if err := db.PutAgentRelease(ctx, arm); err != nil {
			t.Fatal(err)
		}
		old := r
		old.Version = "v1.0.0"
		if err := db.PutAgentRelease(ctx, old); err != nil {
			t.Fatal(err)
		}
		got, err := db.AgentReleaseBinary(ctx, "v1.1.0", "linux", "amd64")
		if err != nil || !bytes.Equal(got.Binary, bin) || string(got.Note) != "patchbay-agent release\nversion v1.1.0\n\n— k sig\n" ||
			got.Size != 8 || got.UploadedBy != "alice" || !got.UploadedAt.Equal(t0) {
			t.Fatalf("release: %+v %v", got, err)
		}
		if _, err := db.AgentReleaseBinary(ctx, "v1.1.0", "linux", "386"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a missing platform: %v, want ErrNotFound", err)
		}
		list, err := db.AgentReleases(ctx, "v1.1.0")
		if err != nil || len(list) != 2 || list[0].Arch != "amd64" || list[1].Arch != "arm64" || list[0].Binary != nil {
			t.Fatalf("releases of v1.1.0: %+v %v; want amd64 then arm64, without binaries", list, err)
		}
		all, err := db.AgentReleases(ctx, "")
		if err != nil || len(all) != 3 || all[0].Version != "v1.0.0" {
			t.Fatalf("every release: %+v %v; want 3, v1.0.0 first", all, err)
		}
	})
}
