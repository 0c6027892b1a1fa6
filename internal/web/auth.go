package web

import (
	"errors"
	"net/http"
	"strings"
)

type loginView struct {
	Username string
	Next     string
	Error    string
}

// loginForm shows the sign-in form. It keeps nothing on the server: the
// form's CSRF token is the signed pb_login cookie (csrf.go), so any number
// of visitors cannot fill the session store.
func (c *console) loginForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	next := safeNext(r.URL.Query().Get("next"))
	if rc.signed {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	rc.loginCSRF = c.loginCSRFToken(c.loginNonce(w, r))
	c.render(w, r, rc, http.StatusOK, "login.html", "Sign in", loginView{Next: next})
	return nil
}

// login checks the credentials; the backend applies the sign-in limits
// (per username and address, per address), the same as the API's. On success it replaces the session with a new one (a new ID), so
// an ID planted before sign-in is worthless after it.
func (c *console) login(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	ip := clientIP(r)
	view := loginView{Username: username, Next: next}
	if rc.session.CSRF == "" {
		rc.loginCSRF = c.loginCSRFToken(c.loginNonce(w, r)) // for the form shown again on failure
	}
	entry := AuditEntry{Time: c.opt.Now(), Actor: username, Target: "console", RemoteAddr: ip}

	u, err := c.b.Authenticate(r.Context(), username, password)
	switch {
	case errors.Is(err, ErrThrottled):
		entry.Action, entry.Detail = "login.blocked", "too many sign-in attempts"
		c.b.Record(r.Context(), entry)
		view.Error = "Too many sign-in attempts for this account or from this address, or the server is busy. Wait a few minutes, then try again."
		c.render(w, r, rc, http.StatusTooManyRequests, "login.html", "Sign in", view)
		return nil
	case errors.Is(err, ErrBadLogin):
		entry.Action, entry.Detail = "login.failure", "wrong username or password"
		c.b.Record(r.Context(), entry)
		view.Error = "Wrong username or password."
		c.render(w, r, rc, http.StatusUnauthorized, "login.html", "Sign in", view)
		return nil
	case err != nil:
		return err
	}
	if rc.sessID != "" {
		c.sessions.delete(rc.sessID)
	}
	id, _, err := c.sessions.createFor(u)
	if err != nil {
		return errStatus(http.StatusServiceUnavailable, "The server has too many open sessions. Try again in a few minutes.")
	}
	c.setSessionCookie(w, id)
	c.clearLoginCookie(w)
	entry.Actor, entry.Action = u.Username, "login.success"
	c.b.Record(r.Context(), entry)
	c.log.InfoContext(r.Context(), "console sign-in", "user", u.Username, "remote", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// logout deletes the session on the server, not just the cookie.
func (c *console) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	c.sessions.delete(rc.sessID)
	c.clearSessionCookie(w)
	c.b.Record(r.Context(), AuditEntry{Time: c.opt.Now(), Actor: rc.user.Username, Action: "logout", Target: "console", RemoteAddr: clientIP(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
