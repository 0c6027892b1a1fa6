package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/internal/api"
)

func TestAuditListFiltersAndPages(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.tokenFor(t, RoleAdmin)
	// Three audited requests creating users, and two refused ones.
	for _, u := range []string{"alice", "bob", "carol"} {
		if code := ts.call(t, "POST", "/api/v1/users", admin, []byte(fmt.Sprintf(`{"username":%q,"role":"operator"}`, u)), nil); code != 201 && code != 200 {
			t.Fatalf("create %s: %d", u, code)
		}
	}
	list := func(query string) api.Page[api.AuditEntry] {
		t.Helper()
		var p api.Page[api.AuditEntry]
		if code := ts.call(t, "GET", "/api/v1/audit?"+query, admin, nil, &p); code != 200 {
			t.Fatalf("audit ?%s: %d", query, code)
		}
		return p
	}
	var seqs []uint64
	p := list("action=/users&limit=2")
	if p.Total != 3 || len(p.Items) != 2 || p.NextPageToken == "" {
		t.Fatalf("first page: total %d, %d items, next %q; want 3, 2 and a next page", p.Total, len(p.Items), p.NextPageToken)
	}
	for _, e := range p.Items {
		seqs = append(seqs, e.Seq)
	}
	p = list("action=/users&limit=2&page_token=" + p.NextPageToken)
	if p.Total != 3 || len(p.Items) != 1 || p.NextPageToken != "" {
		t.Fatalf("second page: total %d, %d items, next %q; want 3, 1, none", p.Total, len(p.Items), p.NextPageToken)
	}
	seqs = append(seqs, p.Items[0].Seq)
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != 3 {
		t.Errorf("pages gave sequence numbers %v, want three ascending", seqs)
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"action=/USERS", 3},
		{"action=/users&actor=nobody", 0},
		{"action=/users&since=2999-01-01", 0},
		{"action=/users&until=2000-01-01", 0},
		{"action=/users&since=2000-01-01&until=2999-01-01T00:00:00Z", 3},
	} {
		if p := list(c.query); p.Total != c.want || len(p.Items) != c.want {
			t.Errorf("?%s: total %d, %d items; want %d", c.query, p.Total, len(p.Items), c.want)
		}
	}
	for _, bad := range []string{"since=yesterday", "page_token=x"} {
		if code := ts.call(t, "GET", "/api/v1/audit?"+bad, admin, nil, nil); code != 400 {
			t.Errorf("?%s: %d, want 400", bad, code)
		}
	}
}
