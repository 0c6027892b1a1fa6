package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds on the change form, which comes from the user's browser.
const (
	maxChangeAdvisories = 200
	maxAdvisoryIDLen    = 100
	maxTitleLen         = 200
	maxChangeGroups     = 100
	maxGroupLen         = 200
	maxBatchSize        = 10_000
	maxProblemLen       = 4_000
)

// newChangeView is the form to create a change. The numbers stay strings so
// a re-rendered form shows what the user typed.
type newChangeView struct {
	Title         string
	Advisories    []string
	Groups        []groupOption
	BatchSize     string
	FailureBudget string
	Soak          string
	IgnoreWindows bool
	// AllowDowngrade and ForceNotOffered are the plan's overrides.
	AllowDowngrade  bool
	ForceNotOffered bool
	Reboot          string
	StartMode       string // "", "next-window" or "at"
	StartAt         string // as typed: 2026-12-08T22:30 (UTC)
	Errors          []string
}

type groupOption struct {
	Index   int // for element IDs: group names are data, not identifiers
	Name    string
	Checked bool
}

// changeForm is the create form as submitted, and what is wrong with it.
type changeForm struct {
	req      ChangeRequest
	problems []string
}

// parseAdvisories reads the selected advisory IDs, in order, without
// duplicates (one advisory often has findings on many hosts).
func parseAdvisories(vs []string) ([]string, []string) {
	var ids, problems []string
	for _, v := range vs {
		v = strings.TrimSpace(v)
		if v == "" || slices.Contains(ids, v) {
			continue
		}
		if !validAdvisoryID(v) {
			problems = append(problems, fmt.Sprintf("%q is not an advisory ID: use letters, digits and punctuation, at most %d characters.", v, maxAdvisoryIDLen))
			continue
		}
		ids = append(ids, v)
	}
	if len(ids) > maxChangeAdvisories {
		problems = append(problems, fmt.Sprintf("%d advisories are selected; a change may fix at most %d. Select fewer findings.", len(ids), maxChangeAdvisories))
		ids = ids[:maxChangeAdvisories]
	}
	return ids, problems
}

// validAdvisoryID accepts printable ASCII without spaces, which covers
// CVE-, GHSA-, DSA-, ALSA-2025:10073 and the like.
func validAdvisoryID(s string) bool {
	if s == "" || len(s) > maxAdvisoryIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parseChangeForm reads the submitted create form. known lists the groups a
// change may target; every problem found is reported, so the user fixes
// them all in one go.
func parseChangeForm(v url.Values, known []string) changeForm {
	var f changeForm
	f.req.Title = strings.TrimSpace(v.Get("title"))
	switch {
	case f.req.Title == "":
		f.problems = append(f.problems, "Give the change a title.")
	case len(f.req.Title) > maxTitleLen:
		f.problems = append(f.problems, fmt.Sprintf("The title is longer than %d characters; shorten it.", maxTitleLen))
	}

	var probs []string
	f.req.Advisories, probs = parseAdvisories(v["advisory"])
	f.problems = append(f.problems, probs...)
	if len(f.req.Advisories) == 0 && len(probs) == 0 {
		f.problems = append(f.problems, "Select at least one advisory: tick findings on the Vulnerabilities page, then choose Create change from selected.")
	}

	groups := v["group"]
	if len(groups) > maxChangeGroups {
		groups = groups[:maxChangeGroups]
	}
	for _, g := range groups {
		switch {
		case g == "" || slices.Contains(f.req.Groups, g):
		case len(g) > maxGroupLen || !slices.Contains(known, g):
			f.problems = append(f.problems, fmt.Sprintf("There is no group %q; choose among the groups listed.", truncate(g, 50)))
		default:
			f.req.Groups = append(f.req.Groups, g)
		}
	}
	if len(f.req.Groups) == 0 {
		f.problems = append(f.problems, "Choose at least one group of hosts to patch.")
	}

	var ok bool
	if f.req.BatchSize, ok = parseCount(v.Get("batch_size"), 1, 1); !ok {
		f.problems = append(f.problems, fmt.Sprintf("The batch size must be a whole number from 1 to %d.", maxBatchSize))
	}
	if f.req.FailureBudget, ok = parseCount(v.Get("failure_budget"), 0, 0); !ok {
		f.problems = append(f.problems, fmt.Sprintf("The failure budget must be a whole number from 0 to %d.", maxBatchSize))
	}
	if f.req.Soak, ok = parseSoak(v.Get("soak")); !ok {
		f.problems = append(f.problems, "The soak time must be a duration such as 30m or 2h, at most 7 days (168h).")
	}
	f.req.IgnoreWindows = v.Get("ignore_windows") != ""
	f.req.AllowDowngrade = v.Get("allow_downgrade") != ""
	f.req.ForceNotOffered = v.Get("force_not_offered") != ""
	switch r := v.Get("reboot"); r {
	case "", "restart-services":
		f.req.Reboot = r
	default:
		f.problems = append(f.problems, "Choose a reboot policy among those listed.")
	}
	switch mode := v.Get("start"); mode {
	case "":
	case "next-window":
		f.req.Start = mode
	case "at":
		t, err := parseStartAt(v.Get("start_at"))
		if err != nil {
			f.problems = append(f.problems, "The start time must be a date and time such as 2026-12-08T22:30 (UTC).")
		} else {
			f.req.Start = t.Format(time.RFC3339)
		}
	default:
		f.problems = append(f.problems, "Choose when the change starts among the options listed.")
	}
	return f
}

// parseStartAt reads a start time as a datetime-local field sends it
// (2026-12-08T22:30, taken as UTC), with seconds, or in RFC 3339.
func parseStartAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// maxSoak bounds the wait between rings.
const maxSoak = 7 * 24 * time.Hour

// parseSoak reads a soak time: a duration such as 45s, 30m or 2h, or a
// whole number of minutes; empty is none.
func parseSoak(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	if n, err := strconv.Atoi(s); err == nil {
		s = strconv.Itoa(n) + "m"
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxSoak {
		return 0, false
	}
	return d, true
}

// parseCount reads a whole number from lo to maxBatchSize; empty gives def.
func parseCount(s string, lo, def int) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > maxBatchSize {
		return 0, false
	}
	return n, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// defaultTitle names a change after what it fixes.
func defaultTitle(ids []string) string {
	switch len(ids) {
	case 0:
		return ""
	case 1:
		return "Fix " + ids[0]
	case 2:
		return "Fix " + ids[0] + " and " + ids[1]
	}
	return fmt.Sprintf("Fix %s and %d more advisories", ids[0], len(ids)-1)
}

// newChangeForm shows the create form for the advisories selected on /vulns.
func (c *console) newChangeForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ids, problems := parseAdvisories(r.URL.Query()["advisory"])
	if len(ids) == 0 && len(problems) == 0 {
		problems = append(problems, "No advisory is selected: tick findings on the Vulnerabilities page, then choose Create change from selected.")
	}
	groups, err := c.b.Groups(r.Context())
	if err != nil {
		return err
	}
	v := newChangeView{Title: defaultTitle(ids), Advisories: ids, BatchSize: "1", FailureBudget: "0", Errors: problems}
	c.renderNewChange(w, r, rc, http.StatusOK, v, groups, nil)
	return nil
}

// createChange validates the form and asks the backend to create the
// change, then shows it (post, redirect, get).
func (c *console) createChange(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusBadRequest, "The form could not be read: %v.", err)
	}
	known, err := c.b.Groups(r.Context())
	if err != nil {
		return err
	}
	form := r.PostForm
	f := parseChangeForm(form, known)
	v := newChangeView{
		Title:           form.Get("title"),
		Advisories:      f.req.Advisories,
		BatchSize:       form.Get("batch_size"),
		FailureBudget:   form.Get("failure_budget"),
		Soak:            form.Get("soak"),
		IgnoreWindows:   f.req.IgnoreWindows,
		AllowDowngrade:  f.req.AllowDowngrade,
		ForceNotOffered: f.req.ForceNotOffered,
		Reboot:          f.req.Reboot,
		StartMode:       form.Get("start"),
		StartAt:         form.Get("start_at"),
		Errors:          f.problems,
	}
	if len(f.problems) > 0 {
		c.renderNewChange(w, r, rc, http.StatusBadRequest, v, known, f.req.Groups)
		return nil
	}
	id, err := c.b.CreateChange(r.Context(), rc.user, f.req)
	switch {
	case err == nil:
		http.Redirect(w, r, "/changes/"+url.PathEscape(id)+"?done=create", http.StatusSeeOther)
		return nil
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrNotFound), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, ErrConflict):
		v.Errors = []string{err.Error()}
		c.renderNewChange(w, r, rc, http.StatusConflict, v, known, f.req.Groups)
		return nil
	}
	c.log.WarnContext(r.Context(), "create change refused", "user", rc.user.Username, "err", err)
	v.Errors = []string{err.Error()}
	c.renderNewChange(w, r, rc, http.StatusUnprocessableEntity, v, known, f.req.Groups)
	return nil
}

func (c *console) renderNewChange(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v newChangeView, groups, checked []string) {
	for i, g := range groups {
		v.Groups = append(v.Groups, groupOption{Index: i, Name: g, Checked: slices.Contains(checked, g)})
	}
	c.render(w, r, rc, status, "change_new.html", "New change", v)
}
