package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// KindJira keeps one Jira issue per change request (Jira Cloud and Data
// Center, REST API v2): the change's first event creates it, and every
// event after that adds a comment and, when ChannelConfig.Transitions
// names one for the change's new state, moves the issue through that
// transition (looked up by name in GET …/transitions).
const KindJira = "jira"

// JiraConfig is the jira channel's part of ChannelConfig.
type JiraConfig struct {
	Project   string `json:"project"`    // project key, "OPS"
	IssueType string `json:"issue_type"` // "Task"
	// Transitions maps a change state ("approved", "completed") to the
	// name of the workflow transition to apply ("Start Progress", "Done").
	Transitions map[string]string `json:"transitions,omitempty"`
	// Token is a Data Center personal access token (Bearer); with
	// ChannelConfig.Username it is instead a Cloud API token (Basic auth
	// with the account's e-mail address).
	Token string `json:"token,omitempty"`
}

// Issues is where the jira channel keeps each change's issue key.
type Issues interface {
	GetChangeIssue(ctx context.Context, change, tracker string) (store.ChangeIssue, error)
	PutChangeIssue(ctx context.Context, ci store.ChangeIssue) error
}

// jira makes one attempt at telling Jira about ev.
func (w *Worker) jira(ctx context.Context, ch channel, m store.OutboxMessage, ev notify.Event) error {
	if ev.Kind == notify.Test {
		// A test message checks the address, the certificate and the
		// credentials without creating anything.
		base, err := w.Guard.CheckURL(ch.cfg.URL)
		if err != nil {
			return err
		}
		return jiraClient{w: w, base: strings.TrimSuffix(base.String(), "/"), cfg: ch.cfg}.do(ctx, http.MethodGet, "myself", nil, nil)
	}
	if ev.Change == "" {
		return &permanentError{"the jira channel tells only change events"}
	}
	if w.Issues == nil {
		return errors.New("the jira channel has no issue store")
	}
	base, err := w.Guard.CheckURL(ch.cfg.URL)
	if err != nil {
		return err
	}
	j := jiraClient{w: w, base: strings.TrimSuffix(base.String(), "/"), cfg: ch.cfg}
	link := strings.TrimSuffix(w.ConsoleURL, "/") + ev.Link
	ci, err := w.Issues.GetChangeIssue(ctx, ev.Change, m.Channel)
	created := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		ci, err = j.create(ctx, ev, link)
		if err != nil {
			return err
		}
		ci.Change, ci.Tracker, ci.Created = ev.Change, m.Channel, w.Now()
		if err := w.Issues.PutChangeIssue(ctx, ci); err != nil {
			return fmt.Errorf("issue %s created but not recorded: %w", ci.Key, err)
		}
		created = true
	case err != nil:
		return err
	}
	if !created {
		if err := j.comment(ctx, ci.Key, ev.Subject+"\n\n"+ev.Text+"\n\n"+link); err != nil {
			return err
		}
	}
	state, ok := strings.CutPrefix(string(ev.Kind), "change.")
	if !ok {
		return nil
	}
	if state == "started" {
		state = "running"
	}
	if name := ch.cfg.Jira.Transitions[state]; name != "" {
		return j.transition(ctx, ci.Key, name)
	}
	return nil
}

type jiraClient struct {
	w    *Worker
	base string
	cfg  ChannelConfig
}

// do sends one request to the REST API v2 and decodes a JSON answer into
// out (when not nil).
func (j jiraClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, j.w.Client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, j.base+"/rest/api/2/"+path, body)
	if err != nil {
		return errors.New("channel URL: " + err.Error())
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "patchbay-notify/1")
	if j.cfg.Username != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(j.cfg.Username+":"+j.cfg.Jira.Token)))
	} else {
		req.Header.Set("Authorization", "Bearer "+j.cfg.Jira.Token)
	}
	resp, err := j.w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("jira answered %s to %s %s: %s", resp.Status, method, path, jiraErrors(b))
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return &permanentError{err.Error()} // the same request fails the same way
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("jira's answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// jiraErrors shortens Jira's error body ({"errorMessages":[…],"errors":{…}}).
func jiraErrors(b []byte) string {
	var e struct {
		Messages []string          `json:"errorMessages"`
		Errors   map[string]string `json:"errors"`
	}
	if json.Unmarshal(b, &e) == nil && (len(e.Messages) > 0 || len(e.Errors) > 0) {
		parts := append([]string(nil), e.Messages...)
		for k, v := range e.Errors {
			parts = append(parts, k+": "+v)
		}
		return strings.Join(parts, "; ")
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (j jiraClient) create(ctx context.Context, ev notify.Event, link string) (store.ChangeIssue, error) {
	summary := ev.Subject
	if len(summary) > 250 { // Jira's summary limit is 255 characters
		summary = summary[:250]
	}
	fields := map[string]any{
		"project":     map[string]string{"key": j.cfg.Jira.Project},
		"issuetype":   map[string]string{"name": j.cfg.Jira.IssueType},
		"summary":     summary,
		"description": ev.Text + "\n\nPatchbay: " + link,
		"labels":      []string{"patchbay"},
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := j.do(ctx, http.MethodPost, "issue", map[string]any{"fields": fields}, &out); err != nil {
		return store.ChangeIssue{}, err
	}
	if out.Key == "" {
		return store.ChangeIssue{}, errors.New("jira created an issue without a key")
	}
	return store.ChangeIssue{Key: out.Key, URL: j.base + "/browse/" + url.PathEscape(out.Key)}, nil
}

func (j jiraClient) comment(ctx context.Context, key, text string) error {
	return j.do(ctx, http.MethodPost, "issue/"+url.PathEscape(key)+"/comment", map[string]string{"body": text}, nil)
}

// transition applies the transition named name, when the issue's
// workflow offers it now; one it does not offer is skipped (the issue
// may already be past it, moved by hand).
func (j jiraClient) transition(ctx context.Context, key, name string) error {
	var ts struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"transitions"`
	}
	path := "issue/" + url.PathEscape(key) + "/transitions"
	if err := j.do(ctx, http.MethodGet, path, nil, &ts); err != nil {
		return err
	}
	for _, t := range ts.Transitions {
		if strings.EqualFold(t.Name, name) {
			return j.do(ctx, http.MethodPost, path, map[string]any{"transition": map[string]string{"id": t.ID}}, nil)
		}
	}
	j.w.Log.Info("jira transition not offered", "issue", key, "transition", name)
	return nil
}
