package server

import (
	"context"
	"fmt"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
	"net/http"
	"strconv"
	"time"
)

// route is one entry of the route table: every route names the permission
// it needs, and the table is the only place routes are registered.
type route struct {
	Method  string
	Path    string // net/http pattern path, e.g. /api/v1/hosts/{id}
	Perm    Permission
	Summary string
	Handle  func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/healthz", PermPublic, "liveness", s.handleHealthz},
		{"GET", "/readyz", PermPublic, "readiness: the database takes a small write within 3 s", s.handleReadyz},
		{"GET", "/api/v1/openapi.json", PermPublic, "this API's description", s.handleOpenAPI},
		{"GET", "/metrics", PermMetricsRead, "Prometheus metrics", s.handleMetrics},

		{"POST", "/api/v1/auth/login", PermLogin, "sign in with a username and password; answers a 12-hour session token", s.handleLogin},

		{"GET", "/api/v1/hosts", PermHostsRead, "list hosts (filters: os, stale, reboot_required, label, q)", s.handleListHosts},
		{"GET", "/api/v1/hosts/{id}", PermHostsRead, "show a host", s.handleGetHost},
		{"GET", "/api/v1/hosts/{id}/packages", PermHostsRead, "list a host's installed packages with available updates", s.handleHostPackages},
		{"PUT", "/api/v1/hosts/{id}/labels", PermHostsWrite, "replace a host's user labels", s.handleSetHostLabels},
		{"POST", "/api/v1/hosts/{id}/revoke", PermHostsRevoke, "revoke a host: its certificate is refused from now on", s.handleRevokeHost},

		{"GET", "/api/v1/hosts/{id}/findings", PermVulnsRead, "list a host's findings (status=open|resolved|all, history=true)", s.handleHostFindings},
		{"GET", "/api/v1/vulns", PermVulnsRead, "list findings by priority (filters: host, label, severity, kev, overdue, status, advisory)", s.handleListVulns},
		{"GET", "/api/v1/vulns/by/{by}", PermVulnsRead, "open findings grouped by advisory, host or package, with counts of distinct hosts (filters: host, group, team, label, severity, kev, overdue, fix_available, excepted, advisory, package; sort, order)", s.handleFindingRollup},
		{"GET", "/api/v1/vulns/{id}", PermVulnsRead, "show an advisory (or every advisory naming a CVE) with the hosts it affects", s.handleShowVuln},
		{"GET", "/api/v1/feeds", PermFeedsRead, "list feeds with their last sync, records and rejections", s.handleListFeeds},
		{"POST", "/api/v1/feeds/import", PermFeedsManage, "import a feed file from the body (?name=): OSV zip/JSON, Alpine secdb, CISA KEV JSON/CSV, EPSS CSV", s.handleImportFeed},
		{"GET", "/api/v1/feeds/jobs", PermFeedsRead, "list the newest feed jobs (the matching each import started)", s.handleListFeedJobs},
		{"GET", "/api/v1/feeds/jobs/{id}", PermFeedsRead, "one feed job's state and what it did (?wait=true: when it has ended)", s.handleGetFeedJob},
		{"POST", "/api/v1/feeds/sync", PermFeedsManage, "fetch every configured feed source now", s.handleSyncFeeds},
		{"DELETE", "/api/v1/feeds/{name}", PermFeedsManage, "delete a feed: its advisories (or the KEV catalog, the EPSS scores) go and hosts are matched again", s.handleDeleteFeed},

		{"POST", "/api/v1/enroll-tokens", PermEnrollManage, "create an enrollment token", s.handleCreateEnrollToken},
		{"GET", "/api/v1/enroll-tokens", PermEnrollManage, "list enrollment tokens", s.handleListEnrollTokens},
		{"POST", "/api/v1/enroll-tokens/{id}/revoke", PermEnrollManage, "revoke an enrollment token", s.handleRevokeEnrollToken},

		{"GET", "/api/v1/org", PermOrgRead, "export the organisation as YAML (teams, groups, rings, freezes, policies)", s.handleExportOrg},
		{"POST", "/api/v1/org/apply", PermOrgApply, "apply an organisation YAML as a whole (?dry_run=true, ?prune=true)", s.handleApplyOrg},
		{"GET", "/api/v1/groups", PermOrgRead, "list groups with their hosts", s.handleListGroups},
		{"GET", "/api/v1/groups/{name}", PermOrgRead, "show a group with its hosts and next windows (?windows=N)", s.handleGetGroup},
		{"GET", "/api/v1/hosts/{id}/windows", PermOrgRead, "a host's next maintenance windows, freezes subtracted (?n=N)", s.handleHostWindows},
		{"POST", "/api/v1/calendars", PermCalendars, "create a secret calendar URL for a team or group", s.handleCreateCalendar},
		{"GET", "/api/v1/calendars", PermCalendars, "list calendar URLs (never their secrets)", s.handleListCalendars},
		{"POST", "/api/v1/calendars/{id}/revoke", PermCalendars, "revoke a calendar URL", s.handleRevokeCalendar},
		{"GET", "/calendar/{token}", PermCalendarToken, "a patch calendar (iCalendar) at its secret URL", s.handleCalendarICS},
		{"GET", "/api/v1/notifications", PermNotifyRead, "the delivery log: notifications by recipient and channel with attempts, status, latency, last error (?status, channel, kind, limit)", s.handleListNotifications},
		{"POST", "/api/v1/notifications/{id}/retry", PermNotifyManage, "send a dead-lettered notification again", s.handleRetryNotification},
		{"POST", "/api/v1/notifications/test", PermNotifyManage, "send a test message to the caller over a channel (body: channel; none: every channel)", s.handleTestNotification},
		{"GET", "/api/v1/exceptions", PermExceptionsRead, "list exceptions (?state=pending|active|expired|revoked)", s.handleListExceptions},
		{"POST", "/api/v1/exceptions", PermExceptionsRequest, "request a risk acceptance (mandatory expiry)", s.handleRequestException},
		{"POST", "/api/v1/exceptions/{id}/approve", PermExceptionsApprove, "approve an exception (not your own)", s.handleApproveException},
		{"POST", "/api/v1/exceptions/{id}/revoke", PermExceptionsRequest, "revoke an exception", s.handleRevokeException},

		{"GET", "/api/v1/audit", PermAuditRead, "read the audit trail, oldest first (?from=SEQ, page_token, limit; filters actor, action, target, since, until)", s.handleAuditList},
		{"GET", "/api/v1/audit/verify", PermAuditRead, "verify the hash chain and signed checkpoints; names the first bad entry", s.handleAuditVerify},
		{"GET", "/api/v1/audit/export", PermAuditRead, "export the audit trail (?format=jsonl|syslog)", s.handleAuditExport},

		{"POST", "/api/v1/changes", PermChangesCreate, "draft a change from packages or advisories and target groups", s.handleCreateChange},
		{"GET", "/api/v1/changes", PermChangesRead, "list changes", s.handleListChanges},
		{"GET", "/api/v1/changes/{id}", PermChangesRead, "show a change: plan, waves, hosts, progress, history", s.handleGetChange},
		{"PUT", "/api/v1/changes/{id}", PermChangesCreate, "edit a change before it starts (an edit voids its approval)", s.handleEditChange},
		{"POST", "/api/v1/changes/{id}/submit", PermChangesCreate, "submit a draft for approval", s.handleChangeAction("submit")},
		{"POST", "/api/v1/changes/{id}/approve", PermChangesApprove, "approve a change (not your own)", s.handleChangeAction("approve")},
		{"POST", "/api/v1/changes/{id}/reject", PermChangesApprove, "reject a change", s.handleChangeAction("reject")},
		{"POST", "/api/v1/changes/{id}/start", PermChangesRun, "start an approved change", s.handleChangeAction("start")},
		{"POST", "/api/v1/changes/{id}/halt", PermChangesRun, "halt a running change", s.handleChangeAction("halt")},
		{"POST", "/api/v1/changes/{id}/resume", PermChangesRun, "resume a halted change", s.handleChangeAction("resume")},
		{"POST", "/api/v1/changes/{id}/rollback", PermChangesRun, "roll back a whole change, or the hosts ({\"hosts\":[...]}) or wave ({\"wave\":\"ring\"}) named (which halts it)", s.handleChangeAction("rollback")},
		{"POST", "/api/v1/changes/{id}/cancel", PermChangesCreate, "cancel a draft, pending, approved or scheduled change", s.handleChangeAction("cancel")},

		{"POST", "/api/v1/emergency-stop", PermChangesRun, "halt every running change; nothing is dispatched until a second user releases it", s.handleEmergencyStop},
		{"POST", "/api/v1/emergency-stop/release", PermChangesRun, "release the emergency stop (not by the user who pulled it)", s.handleReleaseEmergencyStop},
		{"POST", "/api/v1/changes/{id}/signoff", PermSignOff, "sign off a completed change for a group, or report a problem (opens a knowledge-base draft)", s.handleSignOff},
		{"GET", "/api/v1/changes/{id}/retrospective", PermChangesRead, "a change's retrospective: timeline, figures, notes", s.handleRetrospective},
		{"POST", "/api/v1/changes/{id}/retrospective", PermRetroWrite, "add a note or action item to a retrospective", s.handleRetroNote},
		{"GET", "/api/v1/changes/{id}/evidence", PermReportRead, "the audit evidence pack of a change", s.handleEvidence},
		{"GET", "/api/v1/retrospectives", PermChangesRead, "retrospectives of completed changes (?team=, ?month=YYYY-MM)", s.handleListRetrospectives},
		{"GET", "/api/v1/kb", PermKBRead, "knowledge base entries (?package=)", s.handleListKB},
		{"GET", "/api/v1/kb/{id}", PermKBRead, "one knowledge base entry", s.handleGetKB},
		{"POST", "/api/v1/kb", PermKBWrite, "create a knowledge base entry", s.handlePutKB},
		{"PUT", "/api/v1/kb/{id}", PermKBWrite, "update a knowledge base entry (e.g. publish a draft)", s.handlePutKB},
		{"GET", "/api/v1/report", PermReportRead, "KPI report for a period (?from=&to=&team=&group=&ring=&severity=&format=json|csv|html)", s.handleReport},

		{"POST", "/api/v1/users", PermUsersManage, "create a user with a generated password (shown once)", s.handleCreateUser},
		{"GET", "/api/v1/users", PermUsersManage, "list users", s.handleListUsers},
		{"POST", "/api/v1/users/{id}/role", PermUsersManage, "change a user's role, by ID or username (not your own admin); ends their sign-in tokens", s.handleSetUserRole},
		{"POST", "/api/v1/users/{id}/email", PermUsersManage, "set or clear a user's e-mail address, by ID or username (the email channel's recipient)", s.handleSetUserEmail},
		{"POST", "/api/v1/users/{id}/disable", PermUsersManage, "disable a user, by ID or username (not yourself); revokes their tokens", s.handleDisableUser},

		{"POST", "/api/v1/tokens", PermTokensManage, "create an API token", s.handleCreateAPIToken},
		{"GET", "/api/v1/tokens", PermTokensManage, "list API tokens (secrets are never shown again)", s.handleListAPITokens},
		{"POST", "/api/v1/tokens/{id}/revoke", PermTokensManage, "revoke an API token", s.handleRevokeAPIToken},

		{"POST", "/api/v1/releases", PermReleasesUpload, "upload an agent release: the binary and its note signed offline by `patchbay release sign`", s.handleUploadRelease},
		{"GET", "/api/v1/releases", PermChangesRead, "list uploaded agent releases (?version=)", s.handleListReleases},

		{"POST", "/agent/v1/enroll", PermEnrollToken, "enroll a host with an enrollment token", s.handleEnroll},
		{"POST", "/agent/v1/checkin", PermAgent, "report facts and inventory", s.handleCheckin},
		{"POST", "/agent/v1/jobs/result", PermAgent, "report the result of a job", s.handleJobResult},
		{"POST", "/agent/v1/renew", PermAgent, "renew the host's client certificate", s.handleRenew},
		{"GET", "/agent/v1/releases/{version}/{os}/{arch}", PermAgent, "an agent release binary, for an agent_update job", s.handleAgentRelease},
	}
}

// Handler returns the HTTP handler with every route of the table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		if rt.Perm == "" {
			panic(fmt.Sprintf("route %s %s declares no permission", rt.Method, rt.Path))
		}
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, &Error{http.StatusNotFound, "not_found", "no such route: " + r.Method + " " + r.URL.Path})
	}
	mux.HandleFunc("/api/", notFound)
	mux.HandleFunc("/agent/", notFound)
	// Everything else is the web console, on the same services and
	// permissions as the API.
	mux.Handle("/", web.New(consoleBackend{s}, web.Options{Secure: true, Now: s.now, Logger: s.log, CSRFKey: s.consoleCSRFKey()}))
	return securityHeaders(mux)
}

// wrap authorizes the request for the route's permission before the
// handler runs, and renders the handler's error.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		reqID := newRequestID()
		sw.Header().Set("X-Request-ID", reqID)
		defer func() { s.metrics.observe(label, sw.status, time.Since(start)) }()
		ctx, err := s.authorize(r, rt.Perm)
		var pending *store.PendingAudit
		if err == nil && auditedRequest(r, rt) && mutatingRequest(r) {
			// The mutation's store transaction appends this entry.
			pending = store.NewPendingAudit(s.requestEntry(r, rt, ctx, reqID))
			ctx = store.WithAudit(ctx, pending)
		}
		if err == nil {
			err = rt.Handle(sw, r.WithContext(ctx))
		}
		if err != nil {
			writeError(sw, r, s.log, err)
		}
		s.auditRequest(r, rt, ctx, sw.status, reqID, pending)
	})
}

func (s *Server) authorize(r *http.Request, perm Permission) (context.Context, error) {
	ctx := r.Context()
	switch perm {
	case PermPublic, PermEnrollToken, PermCalendarToken, PermLogin:
		return ctx, nil // the handler checks the token or credentials itself
	case PermAgent:
		h, err := s.agentHost(r)
		if err != nil {
			return ctx, err
		}
		return context.WithValue(ctx, hostKey{}, h), nil
	}
	p, err := s.authenticate(r)
	if err != nil {
		return ctx, err
	}
	if !p.allows(perm) {
		// The caller is known: keep them for the audit entry of the refusal.
		role := p.Role
		if p.UserRole != "" && p.UserRole != p.Role {
			role = p.Role + "\" with its user's role \"" + p.UserRole
		}
		return context.WithValue(ctx, principalKey{}, p), errForbidden(fmt.Sprintf("role %q may not %s (needs %s)", role, r.Method+" "+r.URL.Path, perm))
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, 200, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.readiness(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "ready"})
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errBadRequest(fmt.Sprintf("%s must be a positive integer", name))
	}
	if n > max {
		n = max
	}
	return n, nil
}
