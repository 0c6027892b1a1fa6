package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// JiraChannel configures the jira channel: one issue per change request
// (delivery/jira.go).
type JiraChannel struct {
	URL       string // the site: https://example.atlassian.net
	User      string // Cloud: the account's e-mail (Basic auth with Token); "": Token is a Bearer PAT
	Token     string
	Project   string
	IssueType string
	// Transitions maps a change state to a workflow transition's name.
	Transitions map[string]string
}

// jiraChannelName is the jira channel's name in the outbox.
const jiraChannelName = "jira"

func (j JiraChannel) check(c Config) error {
	if j.URL == "" {
		if j.Project != "" || j.User != "" || len(j.Transitions) > 0 {
			return errors.New("--jira-project, --jira-user and --jira-transition need --jira-url")
		}
		return nil
	}
	if _, err := (delivery.Guard{Allow: c.NotifyAllow}).CheckURL(j.URL); err != nil {
		return fmt.Errorf("--jira-url: %w (an internal Jira needs --notify-allow with its address)", err)
	}
	if j.Project == "" || j.IssueType == "" {
		return errors.New("--jira-url needs --jira-project and --jira-issue-type")
	}
	if j.Token == "" {
		return errors.New("--jira-url needs a token: PATCHBAY_JIRA_TOKEN (an API token with --jira-user, or a personal access token)")
	}
	for state := range j.Transitions {
		if k, ok := notify.ChangeKind(state); !ok || k == "" {
			return fmt.Errorf("--jira-transition %s: not a change state that is notified", state)
		}
	}
	return nil
}

func (j JiraChannel) channelConfig() channelConfig {
	return channelConfig{jiraChannelName, delivery.KindJira, delivery.ChannelConfig{URL: j.URL, Username: j.User,
		Jira: delivery.JiraConfig{Project: j.Project, IssueType: j.IssueType, Transitions: j.Transitions, Token: j.Token}}}
}

// jiraMessage is ev's message on the jira channel, when one is configured
// and ev is a change's: one per event, whoever it concerns.
func (s *Server) jiraMessage(ev notify.Event, b []byte) []store.OutboxMessage {
	if ev.Change == "" || !strings.HasPrefix(string(ev.Kind), "change.") || s.notify.kind(jiraChannelName) != delivery.KindJira {
		return nil
	}
	d := notify.Delivery{Recipient: "issue", Role: "ticket", Channel: jiraChannelName}
	return []store.OutboxMessage{{Key: d.Key(ev), EventID: ev.ID, Kind: string(ev.Kind), Recipient: d.Recipient, Role: d.Role,
		Channel: d.Channel, Event: b, CreatedAt: ev.At}}
}

func (n *notifier) kind(channel string) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.kinds[channel]
}

// routedChannels are the channels people are routed to: all but jira,
// which gets one message per change event (jiraMessage).
func (n *notifier) routedChannels() []string {
	var out []string
	for _, c := range n.channelNames() {
		if c != jiraChannelName {
			out = append(out, c)
		}
	}
	return out
}
