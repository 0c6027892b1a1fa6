package server

import (
	"context"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// The console's delivery log (web.NotifyBackend).

func (b consoleBackend) Notifications(ctx context.Context, q web.NotificationQuery) (web.NotificationLog, error) {
	ms, err := b.s.store.ListOutbox(ctx, store.OutboxFilter{Status: q.Status, Channel: q.Channel, Limit: q.Limit})
	if err != nil {
		return web.NotificationLog{}, consoleError(err)
	}
	log := web.NotificationLog{Channels: append([]string{notify.Console}, b.s.notify.channelNames()...)}
	for _, m := range ms {
		v := notificationView(m)
		n := web.Notification{ID: v.ID, Kind: v.Kind, Subject: v.Subject, Recipient: v.Recipient, Role: v.Role, Channel: v.Channel,
			Status: v.Status, Attempts: v.Attempts, Created: v.Created, Delivered: v.Delivered != nil, Latency: m.Latency, LastError: v.LastError}
		if v.NextAttempt != nil {
			n.NextAttempt = *v.NextAttempt
		}
		log.Items = append(log.Items, n)
	}
	return log, nil
}

func (b consoleBackend) RetryNotification(ctx context.Context, u web.User, id string) error {
	if err := requireRole(u, PermNotifyManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "notification.retry", "notification "+id)
	auditSummary(ctx, "notification %s sent again by %s", id, u.Username)
	err := b.s.store.RetryOutbox(ctx, id, b.s.now())
	b.audited(ctx, u, "notification.retry", "notification "+id, err)
	return adminError(err)
}

func (b consoleBackend) TestNotification(ctx context.Context, u web.User, channel string) error {
	if err := requireRole(u, PermNotifyManage); err != nil {
		return err
	}
	ctx = b.begin(ctx, u, "notification.test", "channel "+channel)
	_, err := b.s.sendTestNotification(ctx, u.Username, channel)
	b.audited(ctx, u, "notification.test", "channel "+channel, err)
	return adminError(err)
}
