package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SchemaVersion names the webhook payload's shape; a change that breaks
// receivers gets a new version.
const SchemaVersion = "patchbay.notification/v1"

// Webhook is the JSON body posted to a webhook channel.
type Webhook struct {
	Schema         string    `json:"schema"`
	IdempotencyKey string    `json:"idempotency_key"`
	Recipient      Recipient `json:"recipient"`
	Event          Event     `json:"event"`
	// URL is the console page of the event's subject, when it has one.
	URL string `json:"url,omitempty"`
}

// Recipient is who a message is for, and why.
type Recipient struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// WebhookBody renders ev for d as the webhook's JSON. consoleURL is the
// console's base URL ("https://patchbay.example.com").
func WebhookBody(ev Event, d Delivery, consoleURL string) ([]byte, error) {
	return json.Marshal(Webhook{Schema: SchemaVersion, IdempotencyKey: d.Key(ev), Recipient: Recipient{d.Recipient, d.Role},
		Event: ev, URL: link(ev, consoleURL)})
}

func link(ev Event, consoleURL string) string {
	if ev.Link == "" || consoleURL == "" {
		return ""
	}
	return strings.TrimSuffix(consoleURL, "/") + ev.Link
}

// SignatureHeader is the header carrying a webhook body's signature.
const SignatureHeader = "X-Patchbay-Signature"

// Sign returns the signature header value of body sent at t:
// "t=UNIX,v1=hex(HMAC-SHA256(secret, "UNIX.body"))".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header against body as a receiver does: the
// HMAC must match (compared in constant time) and the timestamp must be
// within window of now either way, so a captured request cannot be
// replayed later. Several v1 values (a secret being rotated) pass if one
// matches.
func Verify(secret []byte, header string, body []byte, now time.Time, window time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("signature header: want t=UNIX,v1=HEX")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("signature timestamp %s is %s away from now, outside the %s window", time.Unix(sec, 0).UTC().Format(time.RFC3339), d.Round(time.Second), window)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature does not match the body")
}

// Slack Block Kit limits (api.slack.com/reference/block-kit/blocks).
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

// SlackBody renders ev for d as a Slack-compatible incoming-webhook
// message (Mattermost accepts the same): a fallback text, a header, the
// text with who is told and why, and a button to the console.
func SlackBody(ev Event, d Delivery, consoleURL string) ([]byte, error) {
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type element struct {
		Type string `json:"type"`
		Text text   `json:"text"`
		URL  string `json:"url"`
	}
	type block struct {
		Type     string `json:"type"`
		Text     *text  `json:"text,omitempty"`
		Elements []any  `json:"elements,omitempty"`
	}
	section := slackEscape(ev.Text)
	switch {
	case d.Recipient != "" && d.Role != "":
		section += fmt.Sprintf("\n_For %s (%s)_", slackEscape(d.Recipient), d.Role)
	case d.Recipient != "": // a room's message names everyone concerned, with their roles
		section += fmt.Sprintf("\n_For %s_", slackEscape(d.Recipient))
	}
	blocks := []block{
		{Type: "header", Text: &text{"plain_text", cut(ev.Subject, slackHeaderMax)}},
		{Type: "section", Text: &text{"mrkdwn", cut(section, slackSectionMax)}},
		{Type: "context", Elements: []any{text{"mrkdwn", fmt.Sprintf("`%s` · %s", ev.Kind, ev.At.UTC().Format(time.RFC3339))}}},
	}
	if u := link(ev, consoleURL); u != "" {
		blocks = append(blocks, block{Type: "actions", Elements: []any{element{Type: "button", Text: text{"plain_text", "Open in Patchbay"}, URL: u}}})
	}
	return json.Marshal(map[string]any{"text": cut(ev.Subject, slackSectionMax), "blocks": blocks})
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cut shortens s to at most n runes, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
