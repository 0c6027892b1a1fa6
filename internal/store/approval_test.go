package store

import (
	"context"
	"errors"
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

func TestASignOffIsWrittenWithTheStateItLeadsTo(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		c := Change{ID: "c1", Title: "openssl", State: "awaiting-signoff", Author: "olga", Spec: []byte(`{}`), Plan: []byte(`{}`), CreatedAt: t0}
		if err := db.CreateChange(ctx, c, "olga"); err != nil {
			t.Fatal(err)
		}
		c, _ = db.GetChange(ctx, "c1")
		c.State = "completed-with-problems"
		so := SignOff{ChangeID: "c1", Group: "db", By: "carol", OK: false, Problem: "slow", At: t0}
		if _, err := db.UpdateChange(ctx, c.Revision, ChangeUpdate{Change: c, SignOff: &so}, t0); err != nil {
			t.Fatal(err)
		}
		sos, _ := db.SignOffs(ctx, "c1")
		if len(sos) != 1 || sos[0].OK || sos[0].Problem != "slow" {
			t.Fatalf("sign-offs: %+v", sos)
		}
		// A second verdict for the group is refused and changes nothing.
		c, _ = db.GetChange(ctx, "c1")
		c.State = "completed"
		ok := SignOff{ChangeID: "c1", Group: "db", By: "carol", OK: true, At: t0}
		if _, err := db.UpdateChange(ctx, c.Revision, ChangeUpdate{Change: c, SignOff: &ok}, t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("second sign-off: %v, want ErrConflict", err)
		}
		if after, _ := db.GetChange(ctx, "c1"); after.State != "completed-with-problems" || after.Revision != c.Revision {
			t.Errorf("after the refused sign-off: %s at revision %d, want completed-with-problems at %d", after.State, after.Revision, c.Revision)
		}
	})
}
