package server

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
)

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// handleOpenAPI describes the API from the route table itself, so the
// description cannot drift from what is served.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		if !strings.HasPrefix(rt.Path, "/api/") && !strings.HasPrefix(rt.Path, "/agent/") {
			continue
		}
		op := map[string]any{
			"summary":      rt.Summary,
			"x-permission": string(rt.Perm),
			"responses": map[string]any{
				"default": map[string]any{"description": "error: {\"error\":{\"code\",\"message\"}}"},
				"200":     map[string]any{"description": "success"},
			},
		}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		doc := apiDocs[rt.Method+" "+rt.Path]
		for _, q := range doc.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]string{"type": q.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if doc.Response != nil {
			op["responses"].(map[string]any)["200"] = map[string]any{"description": "success",
				"content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(doc.Response), 0)}}}
		}
		if doc.Body != nil {
			op["requestBody"] = map[string]any{"required": true,
				"content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(doc.Body), 0)}}}
		}
		switch rt.Perm {
		case PermPublic, PermEnrollToken:
			op["security"] = []any{}
		case PermAgent:
			op["security"] = []map[string][]string{{"mutualTLS": {}}}
		default:
			op["security"] = []map[string][]string{{"bearer": {}}}
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	return writeJSON(w, 200, map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]string{"title": "Patchbay API", "version": "1"},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearer":    map[string]string{"type": "http", "scheme": "bearer"},
			"mutualTLS": map[string]string{"type": "mutualTLS"},
		}},
	})
}
