package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// parsePages parses each page together with the shared layout, once, at
// start-up. A broken template stops the program there, not at a request.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		base := strings.TrimPrefix(name, "templates/")
		if base == "layout.html" {
			continue
		}
		t := template.New(base).Funcs(templateFuncs)
		pages[base] = template.Must(t.ParseFS(templateFS, "templates/layout.html", name))
	}
	return pages
}

// templateFuncs never return template.HTML: everything stays escaped.
var templateFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"percent": func(p float64) string { return fmt.Sprintf("%.1f%%", p*100) },
	"join":    strings.Join,
	"inc":     func(i int) int { return i + 1 },
	"yesno": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	// sevClass maps a severity to one of a fixed set of CSS classes, so
	// data never chooses a class name.
	"sevClass": func(s string) string {
		switch strings.ToLower(s) {
		case "critical", "high", "medium", "low":
			return "sev-" + strings.ToLower(s)
		}
		return "sev-unknown"
	},
	"statusClass": func(s string) string {
		switch strings.ToLower(s) {
		case "succeeded", "done", "approved", "completed", "scheduled":
			return "st-ok"
		case "failed", "rolled_back", "rejected", "halted", "rolled-back", "rollback-failed", "completed-with-problems":
			return "st-bad"
		case "running", "installing", "rebooting", "verifying", "rolling_back", "rolling-back", "awaiting-signoff":
			return "st-busy"
		}
		return "st-idle"
	},
	"label": stateLabel,
	// planClass marks a host the plan left out.
	"planClass": func(s string) string {
		if s == "planned" {
			return "st-ok"
		}
		return "st-bad"
	},
	// rate and days show a KPI that may be undefined (nil): "n/a".
	"rate": func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f%%", *p*100)
	},
	"days": func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f days", *p)
	},
	// pathEscape makes a value one path segment of a link (a group name
	// may hold "/" or "?").
	"pathEscape": url.PathEscape,
	"duration":   formatDuration,
}

// static serves the embedded stylesheet and script.
func (c *console) static(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	name := r.PathValue("file")
	var ctype string
	switch {
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		ctype = "image/svg+xml"
	default:
		return errNotFoundPage
	}
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return errNotFoundPage
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(b)
	return nil
}

func isJSON(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ".json") }

// writeJSON encodes v; encoding/json escapes <, > and & so the body is
// inert even if sniffed as HTML.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext returns a local path to go to after sign-in, or "/" when next is
// not one (so the sign-in form is no open redirect).
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// stateLabels writes states and statuses ("pending-approval",
// "in_flight") as words; app.js's label does the same.
var stateLabels = strings.NewReplacer("_", " ", "-", " ")

// stateLabel is how a change state or host status reads on a page.
func stateLabel(s string) string { return stateLabels.Replace(s) }
