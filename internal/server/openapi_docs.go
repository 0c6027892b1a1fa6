package server

import (
	"reflect"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
)

// apiDoc is what the OpenAPI document says of a route beyond the route
// table: its query parameters and the shapes of its answer and body.
type apiDoc struct {
	Query    []queryParam
	Response any // a value of the answer's type (internal/api)
	Body     any // a value of the request body's type, if any
}

type queryParam struct {
	Name, Type, Description string
}

func qp(name, typ, desc string) queryParam { return queryParam{name, typ, desc} }

var (
	pagingParams = []queryParam{qp("limit", "integer", "items per page"), qp("page_token", "string", "the next_page_token of the previous page")}
	findingQuery = append([]queryParam{qp("host", "string", "hostname or host ID"), qp("label", "string", "host label key=value (repeatable)"),
		qp("severity", "string", "critical, high, medium, low, none or unknown"), qp("kev", "boolean", "in CISA KEV or not"),
		qp("overdue", "boolean", "past the SLA due date"), qp("excepted", "boolean", "accepted by an active exception or not"),
		qp("status", "string", "open (default), resolved or all"), qp("advisory", "string", "one advisory")}, pagingParams...)
	rollupQuery = append([]queryParam{qp("host", "string", "hostname or host ID (repeatable)"), qp("group", "string", "hosts of this group"),
		qp("team", "string", "hosts a group of this team holds"), qp("label", "string", "host label key=value (repeatable)"),
		qp("severity", "string", "critical, high, medium, low, none or unknown"), qp("kev", "boolean", "in CISA KEV or not"),
		qp("overdue", "boolean", "past the due date"), qp("fix_available", "boolean", "the host's repositories offer the fix"),
		qp("excepted", "boolean", "accepted by an active exception or not"), qp("advisory", "string", "one advisory"),
		qp("package", "string", "one package name"), qp("sort", "string", "a column: priority, hosts, advisories, findings, excepted, fix_hosts, fix_findings, kev, overdue, epss, due, advisory, hostname, package"),
		qp("order", "string", "asc or desc")}, pagingParams...)
)

// apiDocs documents the API's list and show routes, keyed "METHOD path" as
// the route table names them; a test checks every key is a route.
var apiDocs = map[string]apiDoc{
	"GET /api/v1/hosts": {Query: append([]queryParam{qp("os", "string", `OS id, or id and version ("ubuntu 22.04")`),
		qp("stale", "boolean", "silent for 3 check-in intervals"), qp("reboot_required", "boolean", ""), qp("label", "string", "key=value (repeatable)"),
		qp("q", "string", "hostname contains"), qp("revoked", "boolean", "include revoked hosts")}, pagingParams...), Response: api.Page[api.Host]{}},
	"GET /api/v1/hosts/{id}":          {Response: api.Host{}},
	"GET /api/v1/hosts/{id}/packages": {Query: pagingParams, Response: api.Page[api.Package]{}},
	"GET /api/v1/hosts/{id}/findings": {Query: append([]queryParam{qp("status", "string", "open (default), resolved or all"),
		qp("history", "boolean", "each finding's events")}, pagingParams...), Response: api.Page[api.Finding]{}},
	"GET /api/v1/vulns":         {Query: findingQuery, Response: api.Page[api.Finding]{}},
	"GET /api/v1/vulns/by/{by}": {Query: rollupQuery, Response: api.Page[api.FindingRollup]{}},
	"GET /api/v1/vulns/{id}":    {Response: api.Page[api.Vulnerability]{}},
	"GET /api/v1/notifications": {Query: []queryParam{qp("status", "string", "pending, delivering, delivered or dead"),
		qp("channel", "string", "console or a configured channel"), qp("kind", "string", "an event, e.g. change.halted"),
		qp("limit", "integer", "1 to 1000; 100 by default")}, Response: api.NotificationList{}},
	"POST /api/v1/notifications/{id}/retry": {Response: api.Notification{}},
	"POST /api/v1/notifications/test":       {Body: TestNotificationRequest{}, Response: api.NotificationList{}},
	"GET /api/v1/feeds/jobs":                {Query: []queryParam{qp("limit", "integer", "1 to 1000; 20 by default")}, Response: api.Page[api.FeedJob]{}},
	"GET /api/v1/feeds/jobs/{id}":           {Query: []queryParam{qp("wait", "boolean", "answer when the job has ended")}, Response: api.FeedJob{}},
	"GET /api/v1/feeds":                     {Response: api.Page[api.FeedStatus]{}},
	"GET /api/v1/audit": {Query: []queryParam{qp("from", "integer", "first sequence number"), qp("page_token", "string", "the next_page_token of the previous page"),
		qp("limit", "integer", "entries per page"), qp("actor", "string", "exact"), qp("action", "string", "contains"), qp("target", "string", "contains"),
		qp("since", "string", "RFC 3339 or YYYY-MM-DD"), qp("until", "string", "RFC 3339 or YYYY-MM-DD (to the end of that day)")},
		Response: api.Page[api.AuditEntry]{}},
	"GET /api/v1/exceptions":                 {Query: []queryParam{qp("state", "string", "pending, active, expired or revoked")}, Response: api.Page[api.Exception]{}},
	"POST /api/v1/exceptions":                {Response: api.Exception{}},
	"GET /api/v1/calendars":                  {Response: api.Page[api.Calendar]{}},
	"GET /api/v1/changes/{id}/retrospective": {Response: api.Retrospective{}},
	"GET /api/v1/retrospectives":             {Query: []queryParam{qp("team", "string", ""), qp("month", "string", "YYYY-MM")}, Response: api.Page[api.Retrospective]{}},
	"GET /api/v1/users":                      {Response: api.Page[api.User]{}},
	"POST /api/v1/users":                     {Body: api.CreateUserRequest{}, Response: api.User{}},
	"POST /api/v1/users/{id}/email":          {Body: api.SetEmailRequest{}, Response: api.User{}},
	"GET /api/v1/tokens":                     {Response: api.Page[api.APIToken]{}},
	"GET /api/v1/releases":                   {Query: []queryParam{qp("version", "string", "only this version")}, Response: []ReleaseView{}},
	"POST /api/v1/releases":                  {Body: ReleaseUpload{}, Response: ReleaseView{}},
	"POST /api/v1/tokens":                    {Body: api.CreateAPITokenRequest{}, Response: api.APIToken{}},
	"POST /api/v1/enroll-tokens":             {Body: api.CreateEnrollTokenRequest{}, Response: api.EnrollToken{}},
	"GET /api/v1/enroll-tokens":              {Response: api.Page[api.EnrollToken]{}},
	"POST /api/v1/emergency-stop":            {Response: api.EmergencyStop{}},
	"GET /api/v1/kb":                         {Query: []queryParam{qp("package", "string", "entries about this package")}, Response: api.Page[api.KBEntry]{}},
	"PUT /api/v1/hosts/{id}/labels":          {Body: api.SetLabelsRequest{}, Response: api.Host{}},
}

// schemaOf is the JSON Schema of a Go value's JSON encoding: objects by
// their json tags, arrays, maps, times as date-time strings.
func schemaOf(t reflect.Type, depth int) map[string]any {
	if depth > 8 {
		return map[string]any{}
	}
	if t == reflect.TypeOf(time.Time{}) {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), depth)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage: any JSON
			return map[string]any{}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), depth+1)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), depth+1)}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, props, &required, depth)
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any, required *[]string, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			addFields(f.Type, props, required, depth)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, depth+1)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}
