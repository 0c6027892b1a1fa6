package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Bounds on the exception form.
const (
	maxJustificationLen = 4_000
	maxRefLen           = 200
	// maxExceptionDays matches the server's policy bound, so the form can
	// say so before the server does.
	maxExceptionDays = 365
	// expiringSoon is how far ahead the "expiring soon" list looks.
	expiringSoon = 14 * 24 * time.Hour
)

var exceptionStates = []string{"pending", "active", "expired", "revoked"}

type exceptionListView struct {
	State      string // the filter, "" for all
	States     []string
	Exceptions []Exception
	Expiring   []Exception // active and ending within 14 days
	CanRequest bool
	Done       string
}

func (c *console) exceptionList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	state := r.URL.Query().Get("state")
	if state != "" && !slices.Contains(exceptionStates, state) {
		return badField("state", "must be one of %s", strings.Join(exceptionStates, ", "))
	}
	all, err := c.b.Exceptions(r.Context(), rc.user)
	if err != nil {
		return err
	}
	now := c.opt.Now()
	v := exceptionListView{State: state, States: exceptionStates, CanRequest: c.b.Allowed(rc.user, permExceptionsRequest)}
	for _, e := range all {
		// The buttons show only where the role has the permission too.
		e.CanApprove = e.CanApprove && c.b.Allowed(rc.user, permExceptionsApprove)
		e.CanRevoke = e.CanRevoke && c.b.Allowed(rc.user, permExceptionsRequest)
		if state == "" || e.State == state {
			v.Exceptions = append(v.Exceptions, e)
		}
		if e.State == "active" && e.ExpiresAt.Sub(now) <= expiringSoon {
			v.Expiring = append(v.Expiring, e)
		}
	}
	slices.SortStableFunc(v.Expiring, func(a, b Exception) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	switch r.URL.Query().Get("done") {
	case "request":
		v.Done = "Exception requested. Another approver of the team must approve it before it applies."
	case "approve":
		v.Done = "Exception approved: its findings are excepted until it expires."
	case "revoke":
		v.Done = "Exception revoked: its findings count again."
	}
	c.render(w, r, rc, http.StatusOK, "exceptions.html", "Exceptions", v)
	return nil
}

// exceptionFormView is the request form; values stay strings so a form
// that comes back with errors shows what the user typed.
type exceptionFormView struct {
	Advisory, Package, Host, Group, Team, Justification, Expires string
	Scope                                                        string // "group" or "host"
	Groups, Teams                                                []string
	MinDate, MaxDate                                             string
	Errors                                                       []string
}

func (c *console) newExceptionForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q := r.URL.Query()
	v := exceptionFormView{Advisory: truncate(q.Get("advisory"), maxRefLen), Package: truncate(q.Get("package"), maxRefLen),
		Host: truncate(q.Get("host"), maxRefLen), Group: truncate(q.Get("group"), maxGroupLen), Scope: "group"}
	if v.Host != "" {
		v.Scope = "host"
	}
	return c.renderExceptionForm(w, r, rc, http.StatusOK, v)
}

func (c *console) renderExceptionForm(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v exceptionFormView) error {
	var err error
	if v.Groups, err = c.b.Groups(r.Context()); err != nil {
		return err
	}
	if v.Teams, err = c.b.ExceptionTeams(r.Context()); err != nil {
		return err
	}
	now := c.opt.Now().UTC()
	v.MinDate, v.MaxDate = now.AddDate(0, 0, 1).Format("2006-01-02"), now.AddDate(0, 0, maxExceptionDays).Format("2006-01-02")
	c.render(w, r, rc, status, "exception_new.html", "Request an exception", v)
	return nil
}

// parseExceptionForm reads the submitted request form and lists every
// problem with it, so the user fixes them all in one go.
func parseExceptionForm(form url.Values, groups, teams []string, now time.Time) (ExceptionRequest, exceptionFormView) {
	v := exceptionFormView{
		Advisory: strings.TrimSpace(form.Get("advisory")), Package: strings.TrimSpace(form.Get("package")),
		Host: strings.TrimSpace(form.Get("host")), Group: form.Get("group"), Team: form.Get("team"),
		Justification: strings.TrimSpace(form.Get("justification")), Expires: strings.TrimSpace(form.Get("expires")),
		Scope: form.Get("scope"),
	}
	req := ExceptionRequest{Advisory: v.Advisory, Package: v.Package, Justification: v.Justification, Team: v.Team}
	bad := func(format string, args ...any) { v.Errors = append(v.Errors, fmt.Sprintf(format, args...)) }
	switch {
	case v.Advisory == "" && v.Package == "":
		bad("Name the advisory (for example CVE-2024-3094) or the package the exception is for.")
	case v.Advisory != "" && !validAdvisoryID(v.Advisory):
		bad("%q is not an advisory ID: use letters, digits and punctuation, at most %d characters.", truncate(v.Advisory, 50), maxAdvisoryIDLen)
	}
	if len(v.Package) > maxRefLen || strings.ContainsAny(v.Package, " \t\r\n") {
		bad("The package name must be one word of at most %d characters.", maxRefLen)
	}
	switch v.Scope {
	case "group":
		if !slices.Contains(groups, v.Group) {
			bad("Choose the group of hosts the exception covers.")
		}
		req.Group = v.Group
	case "host":
		if v.Host == "" || len(v.Host) > maxRefLen {
			bad("Give the hostname or host ID the exception covers.")
		}
		req.Host = v.Host
		if v.Team == "" {
			bad("Choose the team that owns the host.")
		}
	default:
		bad("Choose whether the exception covers a group or one host.")
	}
	if v.Team != "" && !slices.Contains(teams, v.Team) {
		bad("There is no team %q; choose one from the list.", truncate(v.Team, 50))
	}
	switch {
	case v.Justification == "":
		bad("Give the reason the risk is accepted (for example a compensating control).")
	case len(v.Justification) > maxJustificationLen:
		bad("The reason is longer than %d characters; shorten it.", maxJustificationLen)
	}
	if v.Expires == "" {
		bad("An expiry date is mandatory: choose when the exception ends.")
	} else if d, err := time.Parse("2006-01-02", v.Expires); err != nil {
		bad("The expiry must be a date YYYY-MM-DD.")
	} else if !d.After(now) {
		bad("The expiry %s is not in the future; choose a later date.", v.Expires)
	} else if d.Sub(now) > maxExceptionDays*24*time.Hour {
		bad("The expiry is more than %d days away; an exception may last at most %d days.", maxExceptionDays, maxExceptionDays)
	} else {
		req.Expires = d
	}
	return req, v
}

func (c *console) requestException(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusBadRequest, "The form could not be read: %v.", err)
	}
	groups, err := c.b.Groups(r.Context())
	if err != nil {
		return err
	}
	teams, err := c.b.ExceptionTeams(r.Context())
	if err != nil {
		return err
	}
	req, v := parseExceptionForm(r.PostForm, groups, teams, c.opt.Now())
	if len(v.Errors) > 0 {
		return c.renderExceptionForm(w, r, rc, http.StatusBadRequest, v)
	}
	if _, err := c.b.RequestException(r.Context(), rc.user, req); err != nil {
		if !userError(err) {
			return err
		}
		v.Errors = []string{err.Error()}
		return c.renderExceptionForm(w, r, rc, http.StatusUnprocessableEntity, v)
	}
	http.Redirect(w, r, "/exceptions?done=request", http.StatusSeeOther)
	return nil
}

// exceptionAction handles the approve and revoke buttons, then goes back
// to the list (post, redirect, get). A refusal by the server's rules (your
// own request, another team's exception) shows its reason.
func (c *console) exceptionAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		if err := c.b.ExceptionAction(r.Context(), rc.user, r.PathValue("id"), action); err != nil {
			if status, msg, ok := refusalStatus(err); ok {
				return errStatus(status, "%s", msg)
			}
			return err
		}
		http.Redirect(w, r, "/exceptions?done="+action, http.StatusSeeOther)
		return nil
	}
}
