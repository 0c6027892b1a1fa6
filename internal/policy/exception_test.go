package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func request() Exception {
	return Exception{
		ID: "ex-1", Team: "payments",
		Selector:      ExceptionSelector{Advisory: "CVE-2024-6387", Package: "openssh-server"},
		Justification: "sshd reachable only from the bastion; vendor fix due in January",
		RequestedBy:   "alice", RequestedAt: t0,
		Expires: t0.AddDate(0, 0, 30),
	}
}

func TestExceptionValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *Exception)
		want   string
	}{
		{"a complete request is valid", func(e *Exception) {}, ""},
		{"an expiry is required", func(e *Exception) { e.Expires = time.Time{} }, "expires: expiry is required"},
		{"an expiry in the past is refused", func(e *Exception) { e.Expires = t0.Add(-time.Hour) }, "expires: expiry 2026-11-23T08:00:00Z is not in the future"},
		{"an expiry of now is refused", func(e *Exception) { e.Expires = t0 }, "is not in the future"},
		{"an expiry past 365 days is refused", func(e *Exception) { e.Expires = t0.AddDate(0, 0, 366) }, "expires: expiry 2027-11-24T09:00:00Z is more than 365 days after"},
		{"exactly 365 days is fine", func(e *Exception) { e.Expires = t0.AddDate(0, 0, 365) }, ""},
		{"a justification is required", func(e *Exception) { e.Justification = "  " }, "justification: justification is required"},
		{"an empty selector is refused", func(e *Exception) { e.Selector = ExceptionSelector{} }, "selector: selector is empty"},
		{"a team is required", func(e *Exception) { e.Team = "" }, "team: team is required"},
		{"a requester is required", func(e *Exception) { e.RequestedBy = "" }, "requested_by: requester is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := request()
			tt.mutate(&e)
			err := e.Validate(t0)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestExceptionApprove(t *testing.T) {
	e := request()
	_, err := e.Approve("alice", true, t0)
	if !errors.Is(err, ErrSelfApproval) || !strings.Contains(err.Error(), "requested by alice; another approver must approve") {
		t.Errorf("self-approval: err = %v", err)
	}
	if _, err := e.Approve("frank", false, t0); !errors.Is(err, ErrForbidden) {
		t.Errorf("approval without the role: err = %v; want ErrForbidden", err)
	}
	if _, err := e.Approve("bob", true, t0.AddDate(0, 0, 31)); err == nil || !strings.Contains(err.Error(), "not in the future") {
		t.Errorf("approval after expiry: err = %v; want an expiry error", err)
	}
	approved, err := e.Approve("bob", true, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Approve by bob: %v", err)
	}
	if approved.ApprovedBy != "bob" || approved.ApprovedAt == nil || !approved.ApprovedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("approved = %+v", approved)
	}
	if e.ApprovedAt != nil {
		t.Error("Approve changed its receiver")
	}
	if _, err := approved.Approve("erin", true, t0.Add(2*time.Hour)); !errors.Is(err, ErrNotPending) {
		t.Errorf("second approval: err = %v; want ErrNotPending", err)
	}
	revoked := e
	revoked.RevokedAt = &t0
	if _, err := revoked.Approve("bob", true, t0); !errors.Is(err, ErrNotPending) {
		t.Errorf("approving a revoked request: err = %v; want ErrNotPending", err)
	}
}

func TestExceptionActive(t *testing.T) {
	e := request()
	if e.Active(t0.Add(time.Hour)) {
		t.Error("an unapproved exception is active")
	}
	e, err := e.Approve("bob", true, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"before approval", t0, false},
		{"at approval", t0.Add(time.Hour), true},
		{"a second before expiry", e.Expires.Add(-time.Second), true},
		{"at expiry the findings come back", e.Expires, false},
		{"after expiry", e.Expires.AddDate(0, 0, 1), false},
	}
	for _, tt := range tests {
		if got := e.Active(tt.now); got != tt.want {
			t.Errorf("%s: Active = %v, want %v", tt.name, got, tt.want)
		}
	}
	revokeAt := t0.AddDate(0, 0, 10)
	e.RevokedAt = &revokeAt
	if !e.Active(revokeAt.Add(-time.Second)) || e.Active(revokeAt) {
		t.Error("a revoked exception must be active until, and not at, its revocation")
	}
}

func TestExceptionCovers(t *testing.T) {
	f := FindingRef{Advisory: "CVE-2024-6387", Package: "openssh-server", HostID: "h-1", Hostname: "db-1", Groups: []string{"payments-prod", "public-web"}}
	tests := []struct {
		name string
		sel  ExceptionSelector
		want bool
	}{
		{"advisory and package both match", ExceptionSelector{Advisory: "CVE-2024-6387", Package: "openssh-server"}, true},
		{"advisory case does not matter", ExceptionSelector{Advisory: "cve-2024-6387"}, true},
		{"another advisory does not match", ExceptionSelector{Advisory: "CVE-2024-0001"}, false},
		{"every set field must match", ExceptionSelector{Advisory: "CVE-2024-6387", Package: "openssl"}, false},
		{"a host by ID", ExceptionSelector{Host: "h-1"}, true},
		{"a host by hostname", ExceptionSelector{Host: "db-1"}, true},
		{"another host", ExceptionSelector{Host: "db-2"}, false},
		{"one of the finding's groups", ExceptionSelector{Group: "public-web", Package: "openssh-server"}, true},
		{"a group the host is not in", ExceptionSelector{Group: "canary"}, false},
		{"an empty selector covers nothing", ExceptionSelector{}, false},
	}
	for _, tt := range tests {
		e := request()
		e.Selector = tt.sel
		if got := e.Covers(f); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}
