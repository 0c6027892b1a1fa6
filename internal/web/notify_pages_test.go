package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestDeliveryLogShowsEachMessageAndEscapesItsText(t *testing.T) {
	e := newEnv(t)
	e.fake.seedNotifications()
	b := e.browser()
	b.signIn("admin")
	resp, body := b.get("/notifications")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /notifications: %s", resp.Status)
	}
	for _, want := range []string{
		`<table id="notifications">`,
		`<code>change.halted</code> Change openssl is halted`, `alice (sysadmin)`, `1.5s`,
		`refused by the outbound policy: 127.0.0.1 is loopback &lt;script&gt;alert(9)&lt;/script&gt;`,
		`receiver answered 503 Service Unavailable`,
		`<form method="post" action="/notifications/n2/retry">`, // the dead letter, only
		`<form method="post" action="/notifications/test" id="test-notification">`,
		`<option value="sl&lt;a&gt;ck">`,
		`href="/notifications"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the delivery log lacks %s", want)
		}
	}
	for _, not := range []string{`action="/notifications/n1/retry"`, `action="/notifications/n3/retry"`, `<script>alert(9)`} {
		if strings.Contains(body, not) {
			t.Errorf("the delivery log shows %s", not)
		}
	}
	if _, body := b.get("/notifications?status=dead"); !strings.Contains(body, "host.stale") || strings.Contains(body, "change.halted") {
		t.Errorf("the dead-letter filter shows the wrong messages:\n%.2000s", body)
	}
	if resp, _ := b.get("/notifications?status=lost"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown status: %s, want 400", resp.Status)
	}
}

func TestDeliveryLogRetriesDeadLettersAndSendsTestMessages(t *testing.T) {
	e := newEnv(t)
	e.fake.seedNotifications()
	b := e.browser()
	b.signIn("admin")
	b.get("/notifications") // for the CSRF token
	if resp, _ := b.post("/notifications/n2/retry", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/notifications?done=retry" {
		t.Fatalf("retry: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	b.get("/notifications")
	if resp, body := b.post("/notifications/n1/retry", nil); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Message n1 is delivered, not dead") {
		t.Errorf("retry of a delivered message: %s\n%.1000s", resp.Status, body)
	}
	b.get("/notifications")
	if resp, _ := b.post("/notifications/test", url.Values{"channel": {"webhook"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("test: %s", resp.Status)
	}
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	if !slices.Equal(e.fake.notify.retried, []string{"n2 by admin"}) || !slices.Equal(e.fake.notify.tests, []string{"admin webhook"}) {
		t.Errorf("retried %q, tests %q", e.fake.notify.retried, e.fake.notify.tests)
	}
}

func TestDeliveryLogIsForItsRoles(t *testing.T) {
	e := newEnv(t)
	e.fake.seedNotifications()
	for _, tc := range []struct {
		user         string
		read, manage bool
	}{{"admin", true, true}, {"operator", true, false}, {"approver", false, false}, {"stakeholder", false, false}} {
		t.Run(tc.user, func(t *testing.T) {
			b := e.browser()
			b.signIn(tc.user)
			resp, body := b.get("/notifications")
			if (resp.StatusCode == http.StatusOK) != tc.read {
				t.Errorf("GET /notifications: %s", resp.Status)
			}
			if tc.read && !tc.manage && (strings.Contains(body, `id="test-notification"`) || strings.Contains(body, "/retry")) {
				t.Error("the delivery log offers actions to a reader")
			}
			b.get("/")
			for _, p := range []string{"/notifications/n2/retry", "/notifications/test"} {
				if resp, _ := b.post(p, nil); (resp.StatusCode == http.StatusForbidden) == tc.manage {
					t.Errorf("POST %s: %s", p, resp.Status)
				}
			}
		})
	}
}
