package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUserRolePasswordAndDisable(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if _, err := db.CreateUser(ctx, User{ID: "u1", Username: "alice", PasswordHash: "h1", Role: "operator", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserRole(ctx, "u1", "approver"); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserPassword(ctx, "u1", "h2"); err != nil {
			t.Fatal(err)
		}
		first := t0.Add(time.Hour)
		if err := db.DisableUser(ctx, "u1", first); err != nil {
			t.Fatal(err)
		}
		if err := db.DisableUser(ctx, "u1", first.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		u, err := db.GetUser(ctx, "u1")
		if err != nil || u.Role != "approver" || u.PasswordHash != "h2" || u.DisabledAt == nil || !u.DisabledAt.Equal(first) {
			t.Fatalf("user after the updates: %+v %v (want role approver, hash h2, disabled at %v)", u, err, first)
		}
		for name, err := range map[string]error{
			"role":     db.SetUserRole(ctx, "nobody", "admin"),
			"password": db.SetUserPassword(ctx, "nobody", "h"),
			"disable":  db.DisableUser(ctx, "nobody", first),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of a missing user: %v, want ErrNotFound", name, err)
			}
		}
	})
}

func TestUserEmailIsStoredChangedAndCleared(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		if _, err := db.CreateUser(ctx, User{ID: "u1", Username: "alice", PasswordHash: "h", Role: "operator", Email: "alice@example.com", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateUser(ctx, User{ID: "u2", Username: "bob", PasswordHash: "h", Role: "operator", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if u, err := db.GetUserByName(ctx, "alice"); err != nil || u.Email != "alice@example.com" {
			t.Fatalf("alice: %+v %v, want alice@example.com", u, err)
		}
		if u, err := db.GetUser(ctx, "u2"); err != nil || u.Email != "" {
			t.Fatalf("bob: %+v %v, want no address", u, err)
		}
		if err := db.SetUserEmail(ctx, "u2", "bob@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserEmail(ctx, "u1", ""); err != nil {
			t.Fatal(err)
		}
		us, err := db.ListUsers(ctx)
		if err != nil || len(us) != 2 || us[0].Email != "" || us[1].Email != "bob@example.org" {
			t.Fatalf("users: %+v %v, want alice without address, bob at bob@example.org", us, err)
		}
		if err := db.SetUserEmail(ctx, "nobody", "x@example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("address of a missing user: %v, want ErrNotFound", err)
		}
	})
}
