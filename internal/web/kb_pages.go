package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Bounds on the knowledge-base form.
const (
	maxKBTextLen   = 20_000
	maxKBPackages  = 100
	maxKBVersions  = 20
	maxKBRefs      = 100
	maxPackageLen  = 200
	maxDistroLen   = 100
	kbStatusDraft  = "draft"
	kbStatusPublic = "published"
)

type kbListView struct {
	Search   string
	Status   string
	Entries  []KBEntry
	Drafts   int // drafts among Entries
	CanWrite bool
	Total    int // entries before filtering
}

// kbMatches says whether e mentions every word of q, case-insensitively,
// in its title, texts, distribution or package names and versions.
func kbMatches(e KBEntry, q string) bool {
	var b strings.Builder
	for _, s := range []string{e.Title, e.Problem, e.Symptoms, e.Fix, e.Distro} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	for _, p := range e.Packages {
		b.WriteString(p.Name + " " + strings.Join(p.Versions, " ") + "\n")
	}
	text := strings.ToLower(b.String())
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func (c *console) kbList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q := r.URL.Query()
	v := kbListView{Search: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), CanWrite: c.b.Allowed(rc.user, permKBWrite)}
	if len(v.Search) > maxFilterLen {
		return badField("q", "is longer than %d characters", maxFilterLen)
	}
	if v.Status != "" && v.Status != kbStatusDraft && v.Status != kbStatusPublic {
		return badField("status", "must be draft, published or empty")
	}
	all, err := c.b.KBEntries(r.Context())
	if err != nil {
		return err
	}
	v.Total = len(all)
	for _, e := range all {
		if (v.Status == "" || e.Status == v.Status) && kbMatches(e, v.Search) {
			v.Entries = append(v.Entries, e)
			if e.Status == kbStatusDraft {
				v.Drafts++
			}
		}
	}
	c.render(w, r, rc, http.StatusOK, "kb.html", "Knowledge base", v)
	return nil
}

type kbEntryView struct {
	Entry    KBEntry
	CanWrite bool
	Done     string
}

func (c *console) kbDetail(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	e, err := c.b.KBEntry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := kbEntryView{Entry: e, CanWrite: c.b.Allowed(rc.user, permKBWrite)}
	if r.URL.Query().Get("done") == "save" {
		v.Done = "Entry saved."
	}
	c.render(w, r, rc, http.StatusOK, "kb_entry.html", "Knowledge base: "+e.Title, v)
	return nil
}

// kbFormView is the create and edit form; fields stay as typed.
type kbFormView struct {
	ID                                    string // "" when creating
	Title, Problem, Symptoms, Fix, Distro string
	Packages, Changes, Hosts              string // one package per line: name [versions...]; IDs separated by spaces or commas
	Status                                string
	Errors                                []string
}

func kbForm(e KBEntry) kbFormView {
	v := kbFormView{ID: e.ID, Title: e.Title, Problem: e.Problem, Symptoms: e.Symptoms, Fix: e.Fix, Distro: e.Distro,
		Changes: strings.Join(e.Changes, " "), Hosts: strings.Join(e.Hosts, " "), Status: e.Status}
	var lines []string
	for _, p := range e.Packages {
		lines = append(lines, strings.TrimSpace(p.Name+" "+strings.Join(p.Versions, " ")))
	}
	v.Packages = strings.Join(lines, "\n")
	if v.Status == "" {
		v.Status = kbStatusPublic
	}
	return v
}

func (c *console) newKBForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	c.renderKBForm(w, r, rc, http.StatusOK, kbForm(KBEntry{}))
	return nil
}

func (c *console) editKBForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	e, err := c.b.KBEntry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.renderKBForm(w, r, rc, http.StatusOK, kbForm(e))
	return nil
}

func (c *console) renderKBForm(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v kbFormView) {
	title := "New knowledge-base entry"
	if v.ID != "" {
		title = "Edit knowledge-base entry"
	}
	c.render(w, r, rc, status, "kb_form.html", title, v)
}

// splitRefs splits IDs separated by spaces, commas or new lines.
func splitRefs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// parseKBForm reads the submitted form and lists every problem with it.
func parseKBForm(form url.Values) (KBEntry, kbFormView) {
	v := kbFormView{Title: strings.TrimSpace(form.Get("title")), Problem: strings.TrimSpace(form.Get("problem")),
		Symptoms: strings.TrimSpace(form.Get("symptoms")), Fix: strings.TrimSpace(form.Get("fix")),
		Distro: strings.TrimSpace(form.Get("distro")), Packages: form.Get("packages"), Changes: form.Get("changes"),
		Hosts: form.Get("hosts"), Status: form.Get("status")}
	e := KBEntry{Title: v.Title, Problem: v.Problem, Symptoms: v.Symptoms, Fix: v.Fix, Distro: v.Distro, Status: v.Status}
	bad := func(format string, args ...any) { v.Errors = append(v.Errors, fmt.Sprintf(format, args...)) }
	switch {
	case v.Title == "":
		bad("Give the entry a title.")
	case len(v.Title) > maxTitleLen:
		bad("The title is longer than %d characters; shorten it.", maxTitleLen)
	}
	if v.Problem == "" {
		bad("Describe the problem.")
	}
	for name, s := range map[string]string{"problem": v.Problem, "symptoms": v.Symptoms, "fix or workaround": v.Fix} {
		if len(s) > maxKBTextLen {
			bad("The %s is longer than %d characters; shorten it.", name, maxKBTextLen)
		}
	}
	if len(v.Distro) > maxDistroLen {
		bad("The distribution is longer than %d characters.", maxDistroLen)
	}
	for i, line := range strings.Split(v.Packages, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(e.Packages) == maxKBPackages {
			bad("An entry may name at most %d packages.", maxKBPackages)
			break
		}
		if !validPackageName(f[0]) {
			bad("Line %d of the packages: %q is not a package name.", i+1, truncate(f[0], 50))
			continue
		}
		if len(f)-1 > maxKBVersions {
			bad("Line %d of the packages names more than %d versions.", i+1, maxKBVersions)
			f = f[:maxKBVersions+1]
		}
		for _, ver := range f[1:] {
			if len(ver) > maxPackageLen {
				bad("Line %d of the packages: a version is longer than %d characters.", i+1, maxPackageLen)
			}
		}
		e.Packages = append(e.Packages, KBPackage{Name: f[0], Versions: slices.Clone(f[1:])})
	}
	if len(e.Packages) == 0 && !slices.ContainsFunc(v.Errors, func(s string) bool { return strings.Contains(s, "packages") }) {
		bad("Name at least one package the problem is about, one per line (for example: openssl 3.0.2-0ubuntu1.15).")
	}
	e.Changes, e.Hosts = splitRefs(v.Changes), splitRefs(v.Hosts)
	for field, refs := range map[string][]string{"linked changes": e.Changes, "linked hosts": e.Hosts} {
		if len(refs) > maxKBRefs {
			bad("There are more than %d %s.", maxKBRefs, field)
		}
		for _, ref := range refs {
			if len(ref) > maxRefLen {
				bad("An ID among the %s is longer than %d characters.", field, maxRefLen)
				break
			}
		}
	}
	if v.Status != kbStatusDraft && v.Status != kbStatusPublic {
		bad("Choose draft or published.")
	}
	return e, v
}

// validPackageName accepts what Debian, RPM and Alpine package names use:
// a letter or digit, then letters, digits and + . _ -. The server checks
// again with the agent protocol's own rule.
func validPackageName(s string) bool {
	if s == "" || len(s) > maxPackageLen {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune("+._-", r):
		default:
			return false
		}
	}
	return true
}

// saveKB creates an entry (/kb/new) or replaces one (/kb/{id}/edit), then
// shows it (post, redirect, get).
func (c *console) saveKB(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusBadRequest, "The form could not be read: %v.", err)
	}
	id := r.PathValue("id")
	if id != "" {
		// Editing: the entry must exist, and it keeps its author and date.
		if _, err := c.b.KBEntry(r.Context(), id); err != nil {
			return err
		}
	}
	e, v := parseKBForm(r.PostForm)
	e.ID, v.ID = id, id
	if len(v.Errors) > 0 {
		c.renderKBForm(w, r, rc, http.StatusBadRequest, v)
		return nil
	}
	saved, err := c.b.SaveKBEntry(r.Context(), rc.user, e)
	if err != nil {
		if !userError(err) {
			return err
		}
		v.Errors = []string{err.Error()}
		c.renderKBForm(w, r, rc, http.StatusUnprocessableEntity, v)
		return nil
	}
	http.Redirect(w, r, "/kb/"+url.PathEscape(saved)+"?done=save", http.StatusSeeOther)
	return nil
}
