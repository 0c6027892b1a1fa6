package store

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"
)

// ListHostLabels gives each active host's ID, hostname and labels (the
// revoked ones left out), the same as ListHosts does; Hostnames answers
// more IDs than one query takes, leaving out the unknown ones.
func TestHostLabelsAndHostnames(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), map[string]string{"env": "prod"})
		var ids []string
		for i := range 3 {
			id := fmt.Sprintf("h%d", i)
			enrollHost(t, db, newHost(id, fmt.Sprintf("web%d", i)))
			ids = append(ids, id)
		}
		if _, err := db.ApplyCheckin(ctx, "h0", Checkin{Facts: ubuntuFacts(), Full: true}, t0); err != nil {
			t.Fatal(err)
		}
		if err := db.SetHostUserLabels(ctx, "h1", map[string]string{"env": "staging", "team": "web"}); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeHost(ctx, "h2", t0); err != nil {
			t.Fatal(err)
		}
		light, err := db.ListHostLabels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		full, _, err := db.ListHosts(ctx, HostFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(light) != 2 || len(full) != 2 {
			t.Fatalf("ListHostLabels gave %d hosts and ListHosts %d, want the 2 active ones", len(light), len(full))
		}
		for i := range full {
			if light[i].ID != full[i].ID || light[i].Hostname != full[i].Hostname ||
				!maps.Equal(light[i].EffectiveLabels(), full[i].EffectiveLabels()) {
				t.Errorf("host %d: ListHostLabels %+v, ListHosts %+v", i, light[i], full[i])
			}
		}
		if light[0].EffectiveLabels()["os"] == "" || light[1].EffectiveLabels()["team"] != "web" {
			t.Errorf("labels lost: %v %v", light[0].EffectiveLabels(), light[1].EffectiveLabels())
		}

		many := append([]string{}, ids...)
		for i := range 1200 {
			many = append(many, fmt.Sprintf("unknown-%d", i))
		}
		many = append(many, "h1")
		names, err := db.Hostnames(ctx, many)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"h0": "web0", "h1": "web1", "h2": "web2"}
		if !maps.Equal(names, want) {
			t.Errorf("Hostnames = %v, want %v", names, want)
		}
	})
}

func TestEnrollmentLabelsOfTheAgentYieldToTheToken(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB, _ string) {
		ctx := context.Background()
		enrollToken(t, db, "tk", 0, t0.Add(time.Hour), map[string]string{"ring": "test", "env": "prod"})
		h := newHost("h1", "web1")
		h.UserLabels = map[string]string{"ring": "production", "rack": "b12"}
		if _, err := db.EnrollHost(ctx, "h-tk", h, t0); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetHost(ctx, "h1")
		want := map[string]string{"ring": "test", "env": "prod", "rack": "b12"}
		if err != nil || !maps.Equal(got.UserLabels, want) {
			t.Fatalf("user labels %v (%v), want %v: the agent's rack, the token's ring and env", got.UserLabels, err, want)
		}
	})
}
