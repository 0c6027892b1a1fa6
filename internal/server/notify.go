package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// notifyChange tells the stakeholders (and sysadmins) of a change's
// target groups that it was approved, started, halted or ended. The
// message goes to the outbox, and from there to the webhook when one is
// configured.
func (s *Server) notifyChange(ctx context.Context, c store.Change, what string) {
	var plan rollout.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return
	}
	_, org := s.org.get()
	rcpt := []string{c.Author}
	for _, hp := range plan.Hosts {
		if g, err := s.findGroup(org, hp.Group); err == nil {
			rcpt = append(rcpt, g.Stakeholder, g.Sysadmin)
		}
	}
	slices.Sort(rcpt)
	rcpt = slices.Compact(rcpt)
	n := store.Notification{At: s.now(), Kind: "change-" + c.State, Recipients: rcpt,
		Subject: fmt.Sprintf("Change %q %s", c.Title, what), Body: fmt.Sprintf("Change %s (%s) is now %s: %s", c.ID, c.Title, c.State, what)}
	if err := s.store.AddNotification(context.WithoutCancel(ctx), n); err != nil {
		s.log.Error("notification", "err", err)
		return
	}
	s.sendWebhook(n)
}

// sendWebhook posts a notification as JSON to the configured webhook, with
// an HMAC-SHA256 signature of the body in X-Patchbay-Signature.
func (s *Server) sendWebhook(n store.Notification) {
	if s.cfg.WebhookURL == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"kind": n.Kind, "at": n.At, "recipients": n.Recipients, "subject": n.Subject, "body": n.Body})
	mac := hmac.New(sha256.New, []byte(s.cfg.WebhookSecret))
	mac.Write(body)
	s.spawn(func(bctx context.Context) {
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Patchbay-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		client := s.feedClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		resp, err := client.Do(req)
		if err != nil {
			s.log.Warn("webhook failed", "err", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			s.log.Warn("webhook refused", "status", resp.Status)
		}
	})
}
