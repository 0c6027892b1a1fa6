package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// stateAwaitingSignOff is the change state in which stakeholders sign off
// each target group after the rollout.
const stateAwaitingSignOff = "awaiting-signoff"

// signOffForm is the sign-off form of one group still waiting for a verdict.
type signOffForm struct {
	Index   int // position in Change.Groups, for element IDs
	Group   string
	Problem string // draft text kept when the form comes back with an error
}

// signOffForms lists a form for each group of ch that has no verdict yet,
// when ch awaits sign-off and u may sign off; drafts carry problem texts
// to keep.
func (c *console) signOffForms(u User, ch Change, drafts []signOffForm) []signOffForm {
	if ch.State != stateAwaitingSignOff || !c.b.Allowed(u, permChangesSignOff) {
		return nil
	}
	var forms []signOffForm
	for i, g := range ch.Groups {
		if slices.ContainsFunc(ch.SignOffs, func(s SignOffView) bool { return s.Group == g }) {
			continue
		}
		f := signOffForm{Index: i, Group: g}
		for _, d := range drafts {
			if d.Group == g {
				f.Problem = d.Problem
			}
		}
		forms = append(forms, f)
	}
	return forms
}

// signOffInput is one submitted sign-off.
type signOffInput struct {
	group   string
	ok      bool
	problem string
}

// parseSignOff reads a submitted sign-off form. The "Systems work" button
// sends ok=1, "Report problem" ok=0 with the problem's description.
func parseSignOff(v url.Values) (signOffInput, string) {
	in := signOffInput{group: v.Get("group"), problem: strings.TrimSpace(v.Get("problem"))}
	if in.group == "" || len(in.group) > maxGroupLen {
		return in, "The form names no group; reload the change and try again."
	}
	switch v.Get("ok") {
	case "1":
		in.ok, in.problem = true, ""
	case "0":
		if in.problem == "" {
			return in, fmt.Sprintf("Describe the problem with %s before reporting it.", in.group)
		}
		if len(in.problem) > maxProblemLen {
			return in, fmt.Sprintf("The problem description is longer than %d characters; shorten it.", maxProblemLen)
		}
	default:
		return in, "Choose Systems work or Report problem."
	}
	return in, ""
}

// signOff records a stakeholder's verdict on one group, then goes back to
// the change (post, redirect, get).
func (c *console) signOff(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusBadRequest, "The form could not be read: %v.", err)
	}
	id := r.PathValue("id")
	ch, err := c.b.Change(r.Context(), id)
	if err != nil {
		return err
	}
	in, problem := parseSignOff(r.PostForm)
	if problem == "" && !slices.Contains(ch.Groups, in.group) {
		problem = fmt.Sprintf("This change does not target the group %q.", truncate(in.group, 50))
	}
	status := http.StatusBadRequest
	if problem == "" {
		err = c.b.SignOff(r.Context(), rc.user, id, in.group, in.ok, in.problem)
		switch {
		case err == nil:
			http.Redirect(w, r, "/changes/"+url.PathEscape(id)+"?done=signoff", http.StatusSeeOther)
			return nil
		case errors.Is(err, ErrConflict):
			status, problem = http.StatusConflict, err.Error()
		case errors.Is(err, ErrForbidden), errors.Is(err, ErrNotFound), errors.Is(err, context.Canceled):
			return err
		default:
			c.log.WarnContext(r.Context(), "sign-off refused", "user", rc.user.Username, "change", id, "err", err)
			status, problem = http.StatusUnprocessableEntity, err.Error()
		}
		// The verdict may have changed the change; show it as it is now.
		if fresh, err := c.b.Change(r.Context(), id); err == nil {
			ch = fresh
		}
	}
	c.renderChange(w, r, rc, status, ch, changeView{Error: problem,
		SignOffs: []signOffForm{{Group: in.group, Problem: in.problem}}})
	return nil
}
