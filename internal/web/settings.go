package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Permissions of the settings and reports pages, named like the API's.
const (
	permUsersManage  = "users:manage"
	permTokensManage = "tokens:manage"
	permEnrollManage = "enroll:manage"
	permFeedsRead    = "feeds:read"
	permFeedsManage  = "feeds:manage"
	permOrgApply     = "org:apply" // the server's configuration, such as its integrations
	permReportsRead  = "reports:read"
)

// adminRoutes are the routes of the settings and reports pages; routes()
// puts them in the one table. The settings page itself is open to everyone
// signed in (for "change my password"); each section and each action
// declares its own permission.
func (c *console) adminRoutes() []route {
	return []route{
		{method: "GET", pattern: "/settings", perm: permSession, h: c.settings},
		{method: "POST", pattern: "/settings/password", perm: permSession, h: c.changePassword},
		{method: "POST", pattern: "/settings/users", perm: permUsersManage, h: c.createUser},
		{method: "POST", pattern: "/settings/users/{id}/role", perm: permUsersManage, h: c.setUserRole},
		{method: "POST", pattern: "/settings/users/{id}/disable", perm: permUsersManage, h: c.disableUser},
		{method: "POST", pattern: "/settings/tokens", perm: permTokensManage, h: c.createAPIToken},
		{method: "POST", pattern: "/settings/tokens/{id}/revoke", perm: permTokensManage, h: c.revokeAPIToken},
		{method: "POST", pattern: "/settings/enroll-tokens", perm: permEnrollManage, h: c.createEnrollToken},
		{method: "POST", pattern: "/settings/enroll-tokens/{id}/revoke", perm: permEnrollManage, h: c.revokeEnrollToken},
		{method: "POST", pattern: "/settings/feeds/sync", perm: permFeedsManage, h: c.syncFeeds},
		{method: "GET", pattern: "/reports", perm: permReportsRead, h: c.reports},
		{method: "GET", pattern: "/reports/report.json", perm: permReportsRead, h: c.reportFile("json")},
		{method: "GET", pattern: "/reports/report.csv", perm: permReportsRead, h: c.reportFile("csv")},
		{method: "GET", pattern: "/reports/report.html", perm: permReportsRead, h: c.reportFile("html")},
	}
}

// Bounds on the settings forms, which come from the user's browser.
const (
	maxPasswordInput  = 1024
	maxUsernameInput  = 63
	maxTokenNameLen   = 128
	maxTokenDays      = 5 * 365
	maxEnrollHours    = 365 * 24
	maxEnrollHosts    = 1_000_000
	maxEnrollLabels   = 20
	maxLabelPartLen   = 63
	defaultEnrollLife = 24 // hours
)

// settingsView is the settings page: the sections u may see, any one-time
// secret, and the outcome of the last action.
type settingsView struct {
	Me     User
	Done   string
	Error  string
	Secret *shownSecret

	ShowUsers, ShowTokens, ShowEnroll, ShowFeeds, CanSync, ShowIntegrations bool

	Roles        []string
	Users        []UserInfo
	APITokens    []APIToken
	EnrollTokens []EnrollToken
	Feeds        []Feed
	Integrations []Integration
}

// shownSecret is a secret shown once, right after it was created.
type shownSecret struct {
	What  string // "API token ci-deploy"
	Value string
	Hint  string // how to use it
}

// settingsDone are the confirmations shown after an action (?done=).
var settingsDone = map[string]string{
	"password":       "Your password was changed. Your other sessions have been signed out.",
	"role":           "Role changed.",
	"disable":        "User disabled: their sessions end at their next request and their API tokens are revoked.",
	"token-revoke":   "API token revoked.",
	"enroll-revoke":  "Enrollment token revoked.",
	"sync":           "Feeds synchronised.",
	"user-created":   "User created.",
	"token-created":  "API token created.",
	"enroll-created": "Enrollment token created.",
}

func (c *console) settings(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.renderSettings(w, r, rc, http.StatusOK, settingsView{Done: settingsDone[r.URL.Query().Get("done")]})
}

// renderSettings loads the sections u may see and shows the page.
func (c *console) renderSettings(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v settingsView) error {
	ctx, u := r.Context(), rc.user
	v.Me, v.Roles = u, c.b.Roles()
	v.ShowUsers = c.b.Allowed(u, permUsersManage)
	v.ShowTokens = c.b.Allowed(u, permTokensManage)
	v.ShowEnroll = c.b.Allowed(u, permEnrollManage)
	v.ShowFeeds = c.b.Allowed(u, permFeedsRead)
	v.CanSync = c.b.Allowed(u, permFeedsManage)
	v.ShowIntegrations = c.b.Allowed(u, permOrgApply)
	var err error
	if v.ShowUsers {
		if v.Users, err = c.b.Users(ctx); err != nil {
			return err
		}
	}
	if v.ShowTokens {
		if v.APITokens, err = c.b.APITokens(ctx); err != nil {
			return err
		}
	}
	if v.ShowEnroll {
		if v.EnrollTokens, err = c.b.EnrollTokens(ctx); err != nil {
			return err
		}
	}
	if v.ShowFeeds {
		if v.Feeds, err = c.b.Feeds(ctx); err != nil {
			return err
		}
	}
	if v.ShowIntegrations {
		if v.Integrations, err = c.b.Integrations(ctx); err != nil {
			return err
		}
	}
	c.render(w, r, rc, status, "settings.html", "Settings", v)
	return nil
}

// settingsOutcome ends a settings action: back to the page with a
// confirmation (post, redirect, get), or the page again with the reason
// when the backend refused what the user typed.
func (c *console) settingsOutcome(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error, done string) error {
	switch {
	case err == nil:
		http.Redirect(w, r, "/settings?done="+done, http.StatusSeeOther)
		return nil
	case userError(err):
		status := http.StatusBadRequest
		if errors.Is(err, ErrConflict) {
			status = http.StatusConflict
		}
		return c.renderSettings(w, r, rc, status, settingsView{Error: errorText(err)})
	}
	return err
}

// errorText is what a refusal says, without the sentinel's suffix.
func errorText(err error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+ErrConflict.Error())
	if msg == "" {
		return "That is not possible now."
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func (c *console) formProblem(w http.ResponseWriter, r *http.Request, rc *reqCtx, format string, args ...any) error {
	return c.renderSettings(w, r, rc, http.StatusBadRequest, settingsView{Error: fmt.Sprintf(format, args...)})
}

// changePassword sets the signed-in user's password. The backend changes
// the user's epoch, which ends every other session; this one is replaced
// by a new session (a new ID) under the new epoch. Wrong current passwords
// count against the backend's sign-in limits, so a stolen session cannot be
// used to guess the password.
func (c *console) changePassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	ip := clientIP(r)
	switch {
	case current == "" || next == "":
		return c.formProblem(w, r, rc, "Type your current password and the new one.")
	case len(current) > maxPasswordInput || len(next) > maxPasswordInput:
		return c.formProblem(w, r, rc, "Passwords are at most %d characters.", maxPasswordInput)
	case next != confirm:
		return c.formProblem(w, r, rc, "The new password and its confirmation differ; type them again.")
	}
	err := c.b.ChangePassword(r.Context(), rc.user, current, next)
	if errors.Is(err, ErrThrottled) {
		return c.renderSettings(w, r, rc, http.StatusTooManyRequests, settingsView{Error: "Too many wrong passwords for this account from this address. Wait a few minutes, then try again."})
	}
	if errors.Is(err, ErrBadLogin) {
		return c.renderSettings(w, r, rc, http.StatusForbidden, settingsView{Error: "The current password is wrong; nothing was changed."})
	}
	if err != nil {
		return c.settingsOutcome(w, r, rc, err, "")
	}
	u, err := c.b.UserByID(r.Context(), rc.user.ID)
	if err != nil {
		return err
	}
	c.sessions.delete(rc.sessID)
	id, _, err := c.sessions.createFor(u)
	if err != nil {
		c.clearSessionCookie(w)
		return errStatus(http.StatusServiceUnavailable, "Your password was changed, but the server has too many open sessions to sign you in again. Sign in in a few minutes.")
	}
	c.setSessionCookie(w, id)
	c.log.InfoContext(r.Context(), "console password changed", "user", u.Username, "remote", ip)
	http.Redirect(w, r, "/settings?done=password", http.StatusSeeOther)
	return nil
}

func (c *console) validRole(role string) bool { return slices.Contains(c.b.Roles(), role) }

// createUser creates a user. When the admin leaves the password empty the
// backend generates one, shown on this response only.
func (c *console) createUser(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	username := strings.TrimSpace(r.PostFormValue("username"))
	role, password := r.PostFormValue("role"), r.PostFormValue("password")
	switch {
	case username == "" || len(username) > maxUsernameInput:
		return c.formProblem(w, r, rc, "Give the new user a username of at most %d characters.", maxUsernameInput)
	case !c.validRole(role):
		return c.formProblem(w, r, rc, "Choose the new user's role from the list.")
	case len(password) > maxPasswordInput:
		return c.formProblem(w, r, rc, "The password is longer than %d characters.", maxPasswordInput)
	}
	created, initial, err := c.b.CreateUser(r.Context(), rc.user, username, role, password)
	if err != nil {
		return c.settingsOutcome(w, r, rc, err, "")
	}
	v := settingsView{Done: settingsDone["user-created"]}
	if password == "" {
		v.Secret = &shownSecret{What: "Initial password of " + created.Username, Value: initial,
			Hint: "Give it to " + created.Username + " over a safe channel; they should change it under Settings after signing in."}
	}
	return c.renderSettings(w, r, rc, http.StatusOK, v)
}

func (c *console) setUserRole(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	role := r.PostFormValue("role")
	if !c.validRole(role) {
		return c.formProblem(w, r, rc, "Choose a role from the list.")
	}
	return c.settingsOutcome(w, r, rc, c.b.SetUserRole(r.Context(), rc.user, r.PathValue("id"), role), "role")
}

func (c *console) disableUser(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.settingsOutcome(w, r, rc, c.b.DisableUser(r.Context(), rc.user, r.PathValue("id")), "disable")
}

// createAPIToken creates a token acting as the signed-in user; its secret
// is shown on this response only.
func (c *console) createAPIToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	role := r.PostFormValue("role")
	days, ok := parseBounded(r.PostFormValue("expires_days"), 0, maxTokenDays, 90)
	switch {
	case name == "" || len(name) > maxTokenNameLen:
		return c.formProblem(w, r, rc, "Name the token (at most %d characters), e.g. after the script that uses it.", maxTokenNameLen)
	case !c.validRole(role):
		return c.formProblem(w, r, rc, "Choose the token's role from the list.")
	case !ok:
		return c.formProblem(w, r, rc, "The token's lifetime must be a whole number of days from 0 (never expires) to %d.", maxTokenDays)
	}
	req := APITokenRequest{Name: name, Role: role, Expires: time.Duration(days) * 24 * time.Hour}
	tok, secret, err := c.b.CreateAPIToken(r.Context(), rc.user, req)
	if err != nil {
		return c.settingsOutcome(w, r, rc, err, "")
	}
	return c.renderSettings(w, r, rc, http.StatusOK, settingsView{Done: settingsDone["token-created"],
		Secret: &shownSecret{What: "API token " + tok.Name, Value: secret,
			Hint: "Copy it now: it is not shown again. Use it as PATCHBAY_TOKEN or --token."}})
}

func (c *console) revokeAPIToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.settingsOutcome(w, r, rc, c.b.RevokeAPIToken(r.Context(), rc.user, r.PathValue("id")), "token-revoke")
}

// parseLabels reads "key=value" pairs separated by commas or new lines.
func parseLabels(s string) (map[string]string, string) {
	labels := map[string]string{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || len(k) > maxLabelPartLen || len(v) > maxLabelPartLen {
			return nil, fmt.Sprintf("Write labels as key=value, separated by commas (each part at most %d characters); %q is not one.", maxLabelPartLen, truncate(part, 40))
		}
		labels[k] = v
	}
	if len(labels) > maxEnrollLabels {
		return nil, fmt.Sprintf("At most %d labels.", maxEnrollLabels)
	}
	return labels, ""
}

// createEnrollToken creates an enrollment token; its secret is shown on
// this response only.
func (c *console) createEnrollToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	maxHosts, ok := parseBounded(r.PostFormValue("max_hosts"), 0, maxEnrollHosts, 0)
	if !ok {
		return c.formProblem(w, r, rc, "The host limit must be a whole number from 0 (no limit) to %d.", maxEnrollHosts)
	}
	hours, ok := parseBounded(r.PostFormValue("expires_hours"), 1, maxEnrollHours, defaultEnrollLife)
	if !ok {
		return c.formProblem(w, r, rc, "The lifetime must be a whole number of hours from 1 to %d.", maxEnrollHours)
	}
	labels, problem := parseLabels(r.PostFormValue("labels"))
	if problem != "" {
		return c.formProblem(w, r, rc, "%s", problem)
	}
	req := EnrollTokenRequest{MaxHosts: maxHosts, Expires: time.Duration(hours) * time.Hour, Labels: labels}
	tok, secret, err := c.b.CreateEnrollToken(r.Context(), rc.user, req)
	if err != nil {
		return c.settingsOutcome(w, r, rc, err, "")
	}
	return c.renderSettings(w, r, rc, http.StatusOK, settingsView{Done: settingsDone["enroll-created"],
		Secret: &shownSecret{What: "Enrollment token " + tok.Prefix, Value: secret,
			Hint: "Copy it now: it is not shown again. On each host: patchbay agent --server URL --enroll-token TOKEN"}})
}

func (c *console) revokeEnrollToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.settingsOutcome(w, r, rc, c.b.RevokeEnrollToken(r.Context(), rc.user, r.PathValue("id")), "enroll-revoke")
}

func (c *console) syncFeeds(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	_, err := c.b.SyncFeeds(r.Context(), rc.user)
	if errors.Is(err, context.Canceled) {
		return err
	}
	return c.settingsOutcome(w, r, rc, err, "sync")
}

// parseBounded reads a whole number from lo to hi; empty gives def.
func parseBounded(s string, lo, hi, def int) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}
