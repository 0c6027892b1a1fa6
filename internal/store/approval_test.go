package store

import (
	"context"
	"slices"
	"testing"
)

func TestAChangeKeepsItsApprovedDigestAndEditors(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		c := Change{ID: "c1", Title: "openssl", State: "draft", Author: "olga", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}
		if err := db.CreateChange(ctx, c, "olga"); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetChange(ctx, "c1")
		if err != nil || got.ApprovedDigest != "" || len(got.Editors) != 0 {
			t.Fatalf("new change: digest %q editors %q, %v", got.ApprovedDigest, got.Editors, err)
		}
		at := t0
		got.State, got.ApprovedBy, got.ApprovedAt, got.ApprovedDigest = "approved", "alice", &at, "9f86d081884c7d65"
		got.Editors = []string{"eve", "oscar, the \"second\""}
		if _, err := db.UpdateChange(ctx, got.Revision, ChangeUpdate{Change: got}, t0); err != nil {
			t.Fatal(err)
		}
		back, err := db.GetChange(ctx, "c1")
		if err != nil || back.ApprovedDigest != "9f86d081884c7d65" || !slices.Equal(back.Editors, []string{"eve", "oscar, the \"second\""}) {
			t.Fatalf("after update: digest %q editors %q, %v", back.ApprovedDigest, back.Editors, err)
		}
		back.ApprovedDigest, back.Editors = "", nil
		if _, err := db.UpdateChange(ctx, back.Revision, ChangeUpdate{Change: back}, t0); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.GetChange(ctx, "c1"); again.ApprovedDigest != "" || len(again.Editors) != 0 {
			t.Fatalf("after clearing: digest %q editors %q", again.ApprovedDigest, again.Editors)
		}
	})
}
