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
	var got string
	switch {
	case origin != "":
		got = urlHost(origin)
	case referer != "":
		got = urlHost(referer)
	default:
		return true
	}
	// An unparsable header ("null", garbage) gives "", which must not
	// match a request that has no Host either.
	return got != "" && got == host
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
