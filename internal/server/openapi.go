package server

import (
	"net/http"
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
		if params != nil {
			op["parameters"] = params
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
