package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/store"
)

// fieldErrorBody is the API's answer to input that fails validation.
type fieldErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"error"`
}

func (ts *testServer) postForFieldError(t *testing.T, c *http.Client, path, token string, body []byte) (int, fieldErrorBody) {
	t.Helper()
	resp, b := ts.send(t, c, "POST", path, token, body)
	var e fieldErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("POST %s: %d, error body: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, e
}

// agentClient is a client holding a certificate the server's CA signed for
// a host enrolled under id, as an enrolled agent holds.
func (ts *testServer) agentClient(t *testing.T, clock *fakeClock, id string) *http.Client {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, cert, err := ts.ca.SignClient(csr, id, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ts.db.CreateEnrollToken(ctx, store.EnrollToken{ID: "tk-" + id, Hash: "h-" + id, Prefix: "p", ExpiresAt: clock.now().Add(time.Hour), CreatedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.EnrollHost(ctx, "h-"+id, store.Host{ID: id, Hostname: id, CertSerial: pki.SerialString(cert), CertNotAfter: cert.NotAfter,
		EnrolledAt: clock.now(), LastSeenAt: clock.now()}, clock.now()); err != nil {
		t.Fatal(err)
	}
	tr := ts.client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	return &http.Client{Transport: tr}
}

// TestInvalidInputIsA400NamingTheField: a bad policy file, a bad
// maintenance window in it, a change whose rollout plan is invalid and a
// check-in that breaks the protocol are each refused with 400, code
// "invalid", and the path of the field at fault.
func TestInvalidInputIsA400NamingTheField(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	ts, tok, _ := orgServer(t, clock)
	org, err := os.ReadFile("../policy/testdata/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(org, []byte(old)) {
			t.Fatalf("org.yaml has no %q", old)
		}
		return bytes.Replace(org, []byte(old), []byte(new), 1)
	}
	agent := ts.agentClient(t, clock, "host-agent")
	tests := []struct {
		name      string
		client    *http.Client
		path      string
		token     string
		body      []byte
		wantPath  string
		wantInMsg string
	}{
		{"a policy whose group names no ring", ts.client, "/api/v1/org/apply", tok["admin"],
			edit("    ring: production\n", "    ring: prod\n"), "groups[1].ring", `"prod" is not a ring`},
		{"a policy whose window never recurs", ts.client, "/api/v1/org/apply", tok["admin"],
			edit(`rrule: "FREQ=DAILY"`, `rrule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"`), "groups[0].windows[0].rrule", "never occurs"},
		{"a change with a batch of 150 percent", ts.client, "/api/v1/changes", tok["admin"],
			[]byte(`{"title":"t","groups":["payments-prod"],"packages":[{"name":"openssl","version":"3.0.2-0ubuntu1.9"}],"batch_percent":150}`),
			"batch_percent", "must be between 1 and 100, got 150"},
		{"a check-in without a hostname", agent, "/agent/v1/checkin", "",
			[]byte(`{"protocol_version":1,"full":true,"facts":{"hostname":"","package_format":"dpkg"}}`), "facts.hostname", "is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ts.postForFieldError(t, tt.client, tt.path, tt.token, tt.body)
			if code != http.StatusBadRequest || body.Error.Code != "invalid" {
				t.Fatalf("POST %s: %d %q %q; want 400 invalid", tt.path, code, body.Error.Code, body.Error.Message)
			}
			found := false
			for _, f := range body.Error.Fields {
				if f.Path == tt.wantPath && strings.Contains(f.Message, tt.wantInMsg) {
					found = true
				}
			}
			if !found {
				t.Errorf("fields %+v; want %s: …%s…", body.Error.Fields, tt.wantPath, tt.wantInMsg)
			}
			if !strings.Contains(body.Error.Message, tt.wantPath+": ") {
				t.Errorf("message %q does not name %s", body.Error.Message, tt.wantPath)
			}
		})
	}
}
