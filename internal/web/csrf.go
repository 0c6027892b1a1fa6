package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// The sign-in form has no session behind it: a visitor who is not signed
// in costs the server nothing to keep. Its CSRF check is a signed double
// submit instead: the pb_login cookie holds a random nonce, and the form
// carries HMAC-SHA256(key, nonce), which only this server (or a replica
// with the same key) can compute. A cookie planted by another site cannot
// be matched with a valid form value without the key.
const loginCookie = "pb_login"

// loginCSRFToken is the form value that goes with a pb_login nonce.
func (c *console) loginCSRFToken(nonce string) string {
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write([]byte("patchbay console sign-in\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// loginNonce returns the request's pb_login nonce, or sets a new one.
func (c *console) loginNonce(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	nonce := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", HttpOnly: true,
		Secure: c.opt.Secure, SameSite: http.SameSiteStrictMode})
	return nonce
}

// validLoginCSRF checks a sign-in POST: same origin, and the form's value
// is the signature of the request's pb_login nonce.
func (c *console) validLoginCSRF(r *http.Request) bool {
	if !sameOrigin(r.Header.Get("Origin"), r.Header.Get("Referer"), r.Host) {
		return false
	}
	ck, err := r.Cookie(loginCookie)
	got := r.PostFormValue(csrfField)
	if err != nil || ck.Value == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(c.loginCSRFToken(ck.Value)))
}

func (c *console) clearLoginCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true,
		Secure: c.opt.Secure, SameSite: http.SameSiteStrictMode})
}
