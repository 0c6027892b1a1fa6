package web

import "net/http"

// Permissions the console's routes need, named like the API's. permPublic
// and permSession are not granted by roles: anyone, and anyone signed in.
const (
	permPublic         = "public"
	permSession        = "session"
	permHostsRead      = "hosts:read"
	permVulnsRead      = "vulns:read"
	permChangesRead    = "changes:read"
	permChangesCreate  = "changes:create"
	permChangesApprove = "changes:approve"
	permChangesRun     = "changes:run"
	permChangesSignOff = "changes:signoff"
	permAuditRead      = "audit:read"
)

// changeActions maps each change action to the permission it needs.
var changeActions = []struct{ action, perm, label, done string }{
	{"submit", permChangesCreate, "Submit for approval", "Submitted for approval."},
	{"approve", permChangesApprove, "Approve", "Approved."},
	{"reject", permChangesApprove, "Reject", "Rejected."},
	{"start", permChangesRun, "Start rollout", "Rollout started."},
	{"halt", permChangesRun, "Halt", "Halted."},
	{"resume", permChangesRun, "Resume", "Resumed."},
	{"rollback", permChangesRun, "Roll back", "Rollback started."},
	{"cancel", permChangesCreate, "Cancel change", "Cancelled."},
}

// route is one entry of the route table.
type route struct {
	method, pattern string
	perm            string
	json            bool // answers JSON, so errors are JSON and there is no sign-in redirect
	signIn          bool // a POST whose CSRF check may be the signed pb_login cookie (no session yet)
	h               handlerFunc
}

// routes is the one table of every console route and the permission it
// needs. A route without a permission stops the program at start-up.
func (c *console) routes() []route {
	rs := []route{
		{method: "GET", pattern: "/static/{file}", perm: permPublic, h: c.static},
		{method: "GET", pattern: "/login", perm: permPublic, h: c.loginForm},
		{method: "POST", pattern: "/login", perm: permPublic, signIn: true, h: c.login},
		{method: "POST", pattern: "/logout", perm: permSession, h: c.logout},
		{method: "GET", pattern: "/{$}", perm: permHostsRead, h: c.dashboard},
		{method: "GET", pattern: "/hosts", perm: permHostsRead, h: c.hostList},
		{method: "GET", pattern: "/hosts/{id}", perm: permHostsRead, h: c.hostDetail},
		{method: "GET", pattern: "/vulns", perm: permVulnsRead, h: c.vulnList},
		{method: "GET", pattern: "/changes", perm: permChangesRead, h: c.changeList},
		{method: "GET", pattern: "/changes/new", perm: permChangesCreate, h: c.newChangeForm},
		{method: "POST", pattern: "/changes/new", perm: permChangesCreate, h: c.createChange},
		{method: "GET", pattern: "/changes/{id}", perm: permChangesRead, h: c.changeDetail},
		{method: "GET", pattern: "/changes/{id}/status.json", perm: permChangesRead, json: true, h: c.changeStatus},
		{method: "POST", pattern: "/changes/{id}/signoff", perm: permChangesSignOff, h: c.signOff},
		{method: "GET", pattern: "/audit", perm: permAuditRead, h: c.auditLog},
	}
	for _, a := range changeActions {
		rs = append(rs, route{method: "POST", pattern: "/changes/{id}/" + a.action, perm: a.perm, h: c.changeAction(a.action)})
	}
	rs = append(rs, c.orgRoutes()...) // groups, calendar, exceptions, knowledge base: org_pages.go
	// Settings and reports: settings.go, reports.go.
	rs = append(rs, c.adminRoutes()...)
	rs = append(rs, c.notifyRoutes()...) // the notification delivery log: notify_pages.go
	for _, rt := range rs {
		if rt.perm == "" || rt.method == "" {
			panic("web: route " + rt.pattern + " declares no method or permission")
		}
		if rt.method != http.MethodGet && rt.method != http.MethodPost {
			panic("web: route " + rt.pattern + " uses a method the CSRF check does not cover")
		}
	}
	return rs
}
