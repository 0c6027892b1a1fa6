package web

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// dom is a parsed page. Tests ask it for elements, not for substrings of the
// markup, so a check that an element is absent still fails when the element
// is rendered somewhere else or with its attributes in another order.
type dom struct {
	t    testing.TB
	root *html.Node
}

func parseDOM(t testing.TB, body string) *dom {
	t.Helper()
	root, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return &dom{t: t, root: root}
}

// all returns the elements matching sel, in document order. sel is a small
// subset of CSS: compound selectors (tag, #id, .class, [attr], [attr=value]
// with the value bare or in double quotes) joined by spaces for descendants,
// for example `form[action="/changes/c1/approve"] button` or `#users .role`.
func (d *dom) all(sel string) []*html.Node {
	d.t.Helper()
	steps := parseSelector(d.t, sel)
	scope := []*html.Node{d.root}
	for _, step := range steps {
		var next []*html.Node
		seen := map[*html.Node]bool{}
		for _, s := range scope {
			walk(s, func(n *html.Node) {
				if n != s && step.matches(n) && !seen[n] {
					seen[n] = true
					next = append(next, n)
				}
			})
		}
		scope = next
	}
	return scope
}

// first returns the first element matching sel, or nil.
func (d *dom) first(sel string) *html.Node {
	d.t.Helper()
	if ns := d.all(sel); len(ns) > 0 {
		return ns[0]
	}
	return nil
}

// has says whether an element matches sel.
func (d *dom) has(sel string) bool {
	d.t.Helper()
	return d.first(sel) != nil
}

// text is the text of the first element matching sel, with runs of white
// space made one space; "" when nothing matches.
func (d *dom) text(sel string) string {
	d.t.Helper()
	return textOf(d.first(sel))
}

// hasText says whether an element matching sel has exactly the text text
// (white space made single spaces).
func (d *dom) hasText(sel, text string) bool {
	d.t.Helper()
	for _, n := range d.all(sel) {
		if textOf(n) == text {
			return true
		}
	}
	return false
}

// postsTo says whether the page has a way to POST to path: a form whose
// action is path, or a button or input whose formaction is.
func (d *dom) postsTo(path string) bool {
	d.t.Helper()
	return d.has(`form[action="`+path+`"]`) || d.has(`[formaction="`+path+`"]`)
}

// linksTo says whether the page has a link to href.
func (d *dom) linksTo(href string) bool {
	d.t.Helper()
	return d.has(`a[href="` + href + `"]`)
}

// postsEndingIn says whether a form's action or a button's formaction on
// the page ends with suffix, such as "/approve" for any approval.
func (d *dom) postsEndingIn(suffix string) bool {
	d.t.Helper()
	for _, n := range append(d.all("form[action]"), d.all("[formaction]")...) {
		if strings.HasSuffix(attrOf(n, "action"), suffix) || strings.HasSuffix(attrOf(n, "formaction"), suffix) {
			return true
		}
	}
	return false
}

// linksEndingIn says whether a link's path on the page, before any query,
// ends with suffix.
func (d *dom) linksEndingIn(suffix string) bool {
	d.t.Helper()
	for _, n := range d.all("a[href]") {
		path, _, _ := strings.Cut(attrOf(n, "href"), "?")
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}

// scriptsContaining counts script elements whose source or text contains s:
// markup an attacker slipped in becomes a script element only when it was
// not escaped.
func (d *dom) scriptsContaining(s string) int {
	d.t.Helper()
	n := 0
	for _, el := range d.all("script") {
		if strings.Contains(textOf(el), s) || strings.Contains(attrOf(el, "src"), s) {
			n++
		}
	}
	return n
}

func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
			b.WriteByte(' ')
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

func attrOf(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// compound is one compound selector: every part must match.
type compound struct {
	tag     string
	id      string
	classes []string
	attrs   []attrTest
}

type attrTest struct {
	key, val string
	anyVal   bool
}

func (c compound) matches(n *html.Node) bool {
	if n.Type != html.ElementNode || (c.tag != "" && n.Data != c.tag) {
		return false
	}
	if c.id != "" && attrOf(n, "id") != c.id {
		return false
	}
	if len(c.classes) > 0 {
		have := strings.Fields(attrOf(n, "class"))
		for _, want := range c.classes {
			found := false
			for _, h := range have {
				found = found || h == want
			}
			if !found {
				return false
			}
		}
	}
	for _, a := range c.attrs {
		v, ok := "", false
		for _, na := range n.Attr {
			if na.Key == a.key {
				v, ok = na.Val, true
			}
		}
		if !ok || (!a.anyVal && v != a.val) {
			return false
		}
	}
	return true
}

// parseSelector reads sel into compound selectors, outermost first. It
// fails the test on a selector it does not understand rather than match
// nothing, which would make a negative check pass.
func parseSelector(t testing.TB, sel string) []compound {
	t.Helper()
	var out []compound
	i := 0
	for i < len(sel) {
		for i < len(sel) && sel[i] == ' ' {
			i++
		}
		if i == len(sel) {
			break
		}
		var c compound
		start := i
		for i < len(sel) && sel[i] != ' ' {
			switch sel[i] {
			case '#', '.':
				kind := sel[i]
				i++
				j := i
				for j < len(sel) && !strings.ContainsRune(" #.[", rune(sel[j])) {
					j++
				}
				if j == i {
					t.Fatalf("selector %q: empty name at %d", sel, i)
				}
				if kind == '#' {
					c.id = sel[i:j]
				} else {
					c.classes = append(c.classes, sel[i:j])
				}
				i = j
			case '[':
				end := strings.IndexByte(sel[i:], ']')
				if q := strings.IndexByte(sel[i:], '"'); q >= 0 && q < end {
					// The value is quoted: the ] that ends it follows the closing quote.
					close := strings.IndexByte(sel[i+q+1:], '"')
					if close < 0 {
						t.Fatalf("selector %q: unterminated quote", sel)
					}
					end = q + 1 + close + 1 + strings.IndexByte(sel[i+q+1+close+1:], ']')
				}
				if end <= 0 {
					t.Fatalf("selector %q: unterminated [", sel)
				}
				body := sel[i+1 : i+end]
				if k, v, ok := strings.Cut(body, "="); ok {
					c.attrs = append(c.attrs, attrTest{key: k, val: strings.Trim(v, `"`)})
				} else {
					c.attrs = append(c.attrs, attrTest{key: body, anyVal: true})
				}
				i += end + 1
			default:
				if i != start {
					t.Fatalf("selector %q: a tag name must come first in %q", sel, sel[start:])
				}
				j := i
				for j < len(sel) && !strings.ContainsRune(" #.[", rune(sel[j])) {
					j++
				}
				c.tag = sel[i:j]
				if strings.ContainsAny(c.tag, "~>+:*,()") {
					t.Fatalf("selector %q: %q is not supported (only tag, #id, .class, [attr], [attr=value] and descendants)", sel, c.tag)
				}
				i = j
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("empty selector")
	}
	return out
}

func TestTheDOMHelperSelectsElements(t *testing.T) {
	d := parseDOM(t, `<!doctype html><title>x</title>
<nav><a href="/vulns" class="nav current">Vulnerabilities</a></nav>
<section id="users"><form method="post" action="/settings/users/u1/role"><select name="role"></select>
<button type="submit" formaction="/settings/users/u1/disable">Disable   user</button></form></section>
<p data-x="a b">&lt;script&gt;alert(1)&lt;/script&gt;</p><script src="/static/app.js"></script>`)
	tests := []struct {
		sel  string
		want int
	}{
		{"a", 1},
		{`a[href="/vulns"]`, 1},
		{"a[href=/vulns]", 1},
		{`a[href="/audit"]`, 0},
		{"a.nav.current", 1},
		{"a.nav.other", 0},
		{"#users form button", 1},
		{"#users select[name=role]", 1},
		{"nav button", 0},
		{`[data-x="a b"]`, 1},
		{"[formaction]", 1},
		{"section#users", 1},
		{"div#users", 0},
	}
	for _, tt := range tests {
		if got := len(d.all(tt.sel)); got != tt.want {
			t.Errorf("%s: %d elements, want %d", tt.sel, got, tt.want)
		}
	}
	if !d.hasText("button", "Disable user") || d.hasText("button", "Disable") {
		t.Error("hasText does not match the whole text of an element")
	}
	if got := d.text("#users button"); got != "Disable user" {
		t.Errorf("text = %q, want %q", got, "Disable user")
	}
	if !d.postsTo("/settings/users/u1/role") || !d.postsTo("/settings/users/u1/disable") || d.postsTo("/settings/users/u2/role") {
		t.Error("postsTo does not see the form's action and the button's formaction, or sees one that is not there")
	}
	if d.scriptsContaining("alert") != 0 || d.scriptsContaining("app.js") != 1 {
		t.Error("escaped markup counted as a script, or the real script was missed")
	}
}
