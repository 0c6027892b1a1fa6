package web

import (
	"net/http"
	"slices"
	"strings"
)

// Permissions of the delivery log, named like the API's.
const (
	permNotifyRead   = "notifications:read"
	permNotifyManage = "notifications:manage"
)

// notifyRoutes are the delivery log's routes; routes() puts them in the
// one table.
func (c *console) notifyRoutes() []route {
	return []route{
		{method: "GET", pattern: "/notifications", perm: permNotifyRead, h: c.notifications},
		{method: "POST", pattern: "/notifications/{id}/retry", perm: permNotifyManage, h: c.retryNotification},
		{method: "POST", pattern: "/notifications/test", perm: permNotifyManage, h: c.testNotification},
	}
}

var notificationStatuses = []string{"pending", "delivering", "delivered", "dead"}

// notificationsView is the delivery log page.
type notificationsView struct {
	Log       NotificationLog
	Status    string
	Channel   string
	Statuses  []string
	CanManage bool
	Done      string
	Error     string
}

func (c *console) notifications(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.renderNotifications(w, r, rc, http.StatusOK, notificationsView{Done: doneText(r.URL.Query().Get("done"))})
}

func (c *console) renderNotifications(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v notificationsView) error {
	q := r.URL.Query()
	v.Status, v.Channel, v.Statuses = q.Get("status"), q.Get("channel"), notificationStatuses
	if v.Status != "" && !slices.Contains(notificationStatuses, v.Status) {
		return badField("status", "must be pending, delivering, delivered or dead")
	}
	if len(v.Channel) > 64 {
		return badField("channel", "at most 64 characters")
	}
	log, err := c.b.Notifications(r.Context(), NotificationQuery{Status: v.Status, Channel: v.Channel, Limit: 200})
	if err != nil {
		return err
	}
	v.Log = log
	v.CanManage = c.b.Allowed(rc.user, permNotifyManage)
	c.render(w, r, rc, status, "notifications.html", "Notifications", v)
	return nil
}

func doneText(done string) string {
	switch done {
	case "retry":
		return "Sent again: the message is pending and goes out now."
	case "test":
		return "Test message queued; it appears below."
	}
	return ""
}

func (c *console) retryNotification(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return c.notificationOutcome(w, r, rc, c.b.RetryNotification(r.Context(), rc.user, r.PathValue("id")), "retry")
}

func (c *console) testNotification(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	channel := strings.TrimSpace(r.PostFormValue("channel"))
	return c.notificationOutcome(w, r, rc, c.b.TestNotification(r.Context(), rc.user, channel), "test")
}

func (c *console) notificationOutcome(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error, done string) error {
	switch {
	case err == nil:
		http.Redirect(w, r, "/notifications?done="+done, http.StatusSeeOther)
		return nil
	case userError(err):
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), ErrConflict.Error()) {
			status = http.StatusConflict
		}
		return c.renderNotifications(w, r, rc, status, notificationsView{Error: errorText(err)})
	}
	return err
}
