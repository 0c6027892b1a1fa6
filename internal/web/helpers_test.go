package web

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/browsertest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a console over a fake backend on a loopback test server.
type env struct {
	t     *testing.T
	clock *clock
	fake  *fakeBackend
	srv   *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := newClock()
	fake := newFakeBackend(t, clk.Now)
	srv := httptest.NewServer(New(fake, Options{Now: clk.Now}))
	t.Cleanup(srv.Close)
	return &env{t: t, clock: clk, fake: fake, srv: srv}
}

// newChromiumEnv is a console over a fake backend on a loopback TLS server
// (Secure cookies, as in production) and headless Chromium to drive it.
func newChromiumEnv(t *testing.T, timeout time.Duration) (*env, *browsertest.Browser) {
	t.Helper()
	clk := newClock()
	fake := newFakeBackend(t, clk.Now)
	srv := httptest.NewTLSServer(New(fake, Options{Secure: true, Now: clk.Now}))
	t.Cleanup(srv.Close)
	return &env{t: t, clock: clk, fake: fake, srv: srv}, browsertest.Start(t, timeout)
}

// signedIn is a new browser signed in as username.
func (e *env) signedIn(username string) *browser {
	e.t.Helper()
	b := e.browser()
	b.signIn(username)
	return b
}

// browserWithSession is a new browser presenting session ID id, as one who
// learnt or planted it would.
func (e *env) browserWithSession(id string) *browser {
	e.t.Helper()
	b := e.browser()
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: id, Path: "/"}})
	return b
}

// refusesSession fails the test unless GET /hosts with session ID id is
// sent to the sign-in page.
func (e *env) refusesSession(id, what string) {
	e.t.Helper()
	if resp, _ := e.browserWithSession(id).get("/hosts"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		e.t.Errorf("%s still opens /hosts: %s", what, resp.Status)
	}
}

// searchInChromium opens the page the navigation links to at nav and
// searches it for q with its filter form.
func searchInChromium(br *browsertest.Browser, nav, q string) {
	br.Run("search "+nav+" for "+q,
		chromedp.Click(chromedp.CSS(`nav a[href="`+nav+`"]`)),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), q),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
	)
}

// browser is one user agent with its own cookie jar; it does not follow
// redirects so tests can see them.
type browser struct {
	e    *env
	c    *http.Client
	csrf string // from the last page that had a form
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.e.t.Helper()
	req, err := http.NewRequest("GET", b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form like a browser on this site would: with an Origin header
// and, unless the form sets it, the current CSRF token.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	return b.do(req)
}

// signIn loads the form and signs in as username.
func (b *browser) signIn(username string) {
	b.e.t.Helper()
	if resp, _ := b.get("/login"); resp.StatusCode != 200 {
		b.e.t.Fatalf("GET /login: %s", resp.Status)
	}
	resp, body := b.post("/login", url.Values{"username": {username}, "password": {fakePassword}})
	if resp.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("sign in as %s: %s\n%s", username, resp.Status, body)
	}
	if _, body := b.get("/"); !strings.Contains(body, "Signed in as") {
		b.e.t.Fatalf("dashboard after sign-in does not show the user:\n%s", body)
	}
}

func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}
