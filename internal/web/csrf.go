package web

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// csrfField is the hidden form field every POST carries.
const csrfField = "csrf"

// validCSRF reports whether a POST may proceed: the form's token equals the
// session's (compared in constant time) and the request came from this
// site, judged by Origin or, failing that, Referer.
func validCSRF(r *http.Request, sess session) bool {
	if !sameOrigin(r.Header.Get("Origin"), r.Header.Get("Referer"), r.Host) {
		return false
	}
	got := r.PostFormValue(csrfField)
	if got == "" || sess.CSRF == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// sameOrigin checks the Origin header, or the Referer when there is no
// Origin, against the request's Host. Requests with neither pass: the
// token and the SameSite=Strict cookie still protect them.
func sameOrigin(origin, referer, host string) bool {
	switch {
	case origin != "":
		if origin == "null" {
			return false
		}
		return urlHost(origin) == host
	case referer != "":
		return urlHost(referer) == host
	}
	return true
}

// urlHost returns the host[:port] of an absolute http(s) URL, or "" when
// raw is not one.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Host
}
