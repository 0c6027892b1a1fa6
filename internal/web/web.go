package web

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure the console.
type Options struct {
	Secure bool             // mark cookies Secure (set when served over HTTPS)
	Now    func() time.Time // clock; time.Now when nil
	Logger *slog.Logger     // nil discards
	// CSRFKey signs the sign-in form's CSRF cookie (csrf.go). Replicas
	// behind one address need the same key; nil picks a random one.
	CSRFKey []byte
}

// securityHeaders are sent with every response.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "same-origin",
	"Cache-Control":          "no-store",
	"X-Frame-Options":        "DENY",
}

type console struct {
	b        Backend
	opt      Options
	log      *slog.Logger
	sessions *sessionStore
	csrfKey  []byte
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New returns the console's handler, to be mounted at "/".
func New(b Backend, opt Options) http.Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &console{
		b:        b,
		opt:      opt,
		log:      log,
		sessions: newSessionStore(opt.Now),
		csrfKey:  opt.CSRFKey,
		pages:    parsePages(),
		mux:      http.NewServeMux(),
	}
	if len(c.csrfKey) == 0 {
		c.csrfKey = []byte(randomToken())
	}
	for _, rt := range c.routes() {
		c.mux.Handle(rt.method+" "+rt.pattern, c.wrap(rt))
	}
	c.mux.Handle("/", c.wrap(route{pattern: "/", perm: permSession, h: func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		return errNotFoundPage
	}}))
	return c
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	c.mux.ServeHTTP(w, r)
}

// reqCtx is what a handler knows about its caller.
type reqCtx struct {
	user    User
	signed  bool // user is set
	sessID  string
	session session
	// loginCSRF is the sign-in form's CSRF value when there is no session.
	loginCSRF string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error

// httpError is an error with the status and the message the user sees.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

var errNotFoundPage = errStatus(http.StatusNotFound, "There is no such page.")

// wrap applies the route's authentication, CSRF and permission checks, then
// runs its handler and renders any error it returns.
func (c *console) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), remoteAddrKey{}, clientIP(r)))
		rc := &reqCtx{}
		if ck, err := r.Cookie(sessionCookie); err == nil {
			if s, ok := c.sessions.get(ck.Value); ok {
				rc.sessID, rc.session = ck.Value, s
			}
		}
		if rc.session.UserID != "" {
			u, err := c.b.UserByID(r.Context(), rc.session.UserID)
			if err == nil && u.Epoch != rc.session.Epoch {
				err = errStaleSession // the password changed since sign-in
			}
			if err != nil {
				c.sessions.delete(rc.sessID)
				rc.sessID, rc.session = "", session{}
			} else {
				rc.user, rc.signed = u, true
			}
		}
		if err := c.authorize(w, r, rt, rc); err != nil {
			c.renderError(w, r, rc, err)
			return
		}
		if err := rt.h(w, r, rc); err != nil {
			c.renderError(w, r, rc, err)
		}
	})
}

// errStaleSession: the session predates the user's last password change.
var errStaleSession = errors.New("session predates a password change")

// errRedirected: authorize already answered with a redirect.
var errRedirected = errors.New("redirected")

func (c *console) authorize(w http.ResponseWriter, r *http.Request, rt route, rc *reqCtx) error {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		ok := rc.sessID != "" && validCSRF(r, rc.session)
		if rt.signIn && !ok {
			ok = c.validLoginCSRF(r)
		}
		if !ok {
			return errStatus(http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
		}
	}
	switch rt.perm {
	case "":
		// Fail closed: a route that declares nothing is refused (routes()
		// also panics at start-up, so this is belt and braces).
		return errStatus(http.StatusForbidden, "This page declares no permission.")
	case permPublic:
		return nil
	}
	if !rc.signed {
		if r.Method == http.MethodGet && !rt.json {
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return errRedirected
		}
		return errStatus(http.StatusUnauthorized, "Sign in first.")
	}
	if rt.perm == permSession {
		return nil
	}
	if !c.b.Allowed(rc.user, rt.perm) {
		return errStatus(http.StatusForbidden, "Your role (%s) may not do this: it needs the permission %s. Ask an administrator if you need it.", rc.user.Role, rt.perm)
	}
	return nil
}

// renderError maps an error to a status and shows the error page. Backend
// errors other than the known sentinels are logged and shown generically.
func (c *console) renderError(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	if errors.Is(err, errRedirected) {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on the server. Try again; if it persists, tell an administrator."
	var he *httpError
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.Is(err, ErrNotFound):
		status, msg = http.StatusNotFound, "It does not exist (or no longer exists)."
	case errors.Is(err, ErrForbidden):
		status, msg = http.StatusForbidden, "You may not do this."
	case errors.Is(err, ErrConflict):
		status, msg = http.StatusConflict, err.Error()
	case errors.Is(err, context.Canceled):
		return
	default:
		c.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if isJSON(r) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
		return
	}
	c.render(w, r, rc, status, "error.html", "Error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// pageData is what every page template receives.
type pageData struct {
	Title   string
	User    *User
	CSRF    string
	Nav     []navItem
	Path    string
	Content any
}

type navItem struct {
	Href, Label string
	Current     bool
}

func (c *console) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, page, title string, content any) {
	d := pageData{Title: title, CSRF: cmp.Or(rc.session.CSRF, rc.loginCSRF), Path: r.URL.Path, Content: content}
	if rc.signed {
		u := rc.user
		d.User = &u
		for _, n := range navigation {
			if n.perm == permSession || c.b.Allowed(rc.user, n.perm) {
				cur := r.URL.Path == n.href || (n.href != "/" && len(r.URL.Path) > len(n.href) && r.URL.Path[:len(n.href)+1] == n.href+"/")
				d.Nav = append(d.Nav, navItem{Href: n.href, Label: n.label, Current: cur})
			}
		}
	}
	var buf bytes.Buffer
	t, ok := c.pages[page]
	if !ok {
		panic("web: no template " + page)
	}
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		c.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var navigation = []struct{ href, label, perm string }{
	{"/", "Dashboard", permHostsRead},
	{"/hosts", "Hosts", permHostsRead},
	{"/vulns", "Vulnerabilities", permVulnsRead},
	{"/changes", "Changes", permChangesRead},
	{"/groups", "Groups", permOrgRead},
	{"/calendar", "Calendar", permOrgRead},
	{"/exceptions", "Exceptions", permExceptionsRead},
	{"/kb", "Knowledge base", permKBRead},
	{"/audit", "Audit log", permAuditRead},
	{"/notifications", "Notifications", permNotifyRead},
	{"/reports", "Reports", permReportsRead},
	{"/settings", "Settings", permSession},
}

// clientIP is the TCP peer's address. Forwarded headers are not trusted:
// a proxy in front must be configured at the server level.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
