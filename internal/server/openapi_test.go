package server

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDocumentsTheRouteTable: every documented route exists, the
// document describes each route with its permission, and the list routes
// have their query parameters and answer schemas (snake_case field names
// from internal/api, never Go names).
func TestOpenAPIDocumentsTheRouteTable(t *testing.T) {
	ts := newTestServer(t)
	routes := map[string]bool{}
	for _, rt := range ts.routeTable() {
		routes[rt.Method+" "+rt.Path] = true
	}
	for key := range apiDocs {
		if !routes[key] {
			t.Errorf("apiDocs documents %s, which is no route", key)
		}
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Permission string `json:"x-permission"`
			Parameters []struct {
				Name, In string
			} `json:"parameters"`
			Responses map[string]struct {
				Content map[string]struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	var raw []byte
	if code := ts.call(t, "GET", "/api/v1/openapi.json", "", nil, &raw); code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range ts.routeTable() {
		if !strings.HasPrefix(rt.Path, "/api/") {
			continue
		}
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok || op.Permission != string(rt.Perm) {
			t.Errorf("%s %s: in the document %t, permission %q; want %q", rt.Method, rt.Path, ok, op.Permission, rt.Perm)
		}
		// Every list of the API (GET without a trailing {id}) is documented.
		if rt.Method == "GET" && strings.HasPrefix(rt.Path, "/api/v1/") && !strings.HasSuffix(rt.Path, "}") && !routesWithoutDoc[rt.Path] {
			if _, ok := apiDocs[rt.Method+" "+rt.Path]; !ok {
				t.Errorf("GET %s is not in apiDocs", rt.Path)
			}
		}
	}
	rollup := doc.Paths["/api/v1/vulns/by/{by}"]["get"]
	var names []string
	for _, p := range rollup.Parameters {
		names = append(names, p.In+":"+p.Name)
	}
	for _, want := range []string{"path:by", "query:fix_available", "query:group", "query:sort", "query:page_token"} {
		if !slices.Contains(names, want) {
			t.Errorf("roll-up parameters %v lack %s", names, want)
		}
	}
	schema := string(rollup.Responses["200"].Content["application/json"].Schema)
	for _, want := range []string{`"next_page_token"`, `"total"`, `"fix_available_hosts"`, `"advisory_id"`, `"due_at":{"format":"date-time"`} {
		if !strings.Contains(schema, want) {
			t.Errorf("roll-up schema lacks %s: %s", want, schema)
		}
	}
	change := string(doc.Paths["/api/v1/hosts"]["get"].Responses["200"].Content["application/json"].Schema)
	if !strings.Contains(change, `"open_findings"`) || strings.Contains(change, `"HostID"`) {
		t.Errorf("hosts schema: %s", change)
	}
}

// routesWithoutDoc are GET lists whose answer is not JSON or not yet one
// of internal/api's shapes.
var routesWithoutDoc = map[string]bool{
	"/api/v1/openapi.json": true, "/api/v1/org": true, "/api/v1/groups": true, "/api/v1/changes": true,
	"/api/v1/audit/verify": true, "/api/v1/audit/export": true, "/api/v1/report": true, "/api/v1/settings": true,
	"/api/v1/hosts/{id}/windows": true, "/api/v1/changes/{id}/evidence": true,
}
