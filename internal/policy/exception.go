package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxExceptionDays is the longest an exception may last.
const MaxExceptionDays = 365

// Errors Approve returns, for the caller to map to a status.
var (
	// ErrSelfApproval: the requester tried to approve their own exception.
	ErrSelfApproval = errors.New("self-approval")
	// ErrForbidden: the approver lacks the role.
	ErrForbidden = errors.New("forbidden")
	// ErrNotPending: the exception is already approved or revoked.
	ErrNotPending = errors.New("not pending")
)

// Exception is an accepted risk: findings its selector picks are excepted
// from SLAs and reports mark them so, from approval until expiry or
// revocation.
type Exception struct {
	ID            string
	Team          string
	Selector      ExceptionSelector
	Justification string
	RequestedBy   string
	ApprovedBy    string
	RequestedAt   time.Time
	ApprovedAt    *time.Time
	Expires       time.Time
	RevokedAt     *time.Time
}

// ExceptionSelector picks findings; every field that is set must match, and
// at least one must be set.
type ExceptionSelector struct {
	Advisory string // advisory or CVE ID, compared case-insensitively
	Package  string // package name
	Host     string // host ID or hostname
	Group    string // group name
}

func (s ExceptionSelector) empty() bool {
	return s.Advisory == "" && s.Package == "" && s.Host == "" && s.Group == ""
}

// FindingRef is what an exception selector looks at.
type FindingRef struct {
	Advisory string
	Package  string
	HostID   string
	Hostname string
	Groups   []string
}

// Validate checks a requested exception at now: a justification, a
// requester, a non-empty selector, and an expiry in the future at most
// MaxExceptionDays after the request (or now, if the request time is unset).
func (e Exception) Validate(now time.Time) error {
	var p problems
	if e.Team == "" {
		p.add("team", "team is required")
	}
	if e.Selector.empty() {
		p.add("selector", "selector is empty; set an advisory, package, host or group")
	}
	if strings.TrimSpace(e.Justification) == "" {
		p.add("justification", "justification is required: say why the risk is accepted")
	}
	if e.RequestedBy == "" {
		p.add("requested_by", "requester is required")
	}
	from := e.RequestedAt
	if from.IsZero() {
		from = now
	}
	switch {
	case e.Expires.IsZero():
		p.add("expires", "expiry is required (at most %d days ahead)", MaxExceptionDays)
	case !e.Expires.After(now):
		p.add("expires", "expiry %s is not in the future", e.Expires.UTC().Format(time.RFC3339))
	case e.Expires.Sub(from) > MaxExceptionDays*24*time.Hour:
		p.add("expires", "expiry %s is more than %d days after %s", e.Expires.UTC().Format(time.RFC3339), MaxExceptionDays, from.UTC().Format(time.RFC3339))
	}
	p.What = "policy"
	return p.Err()
}

// Approve returns e approved by by at now. The caller checks by's role for
// e.Team and passes the answer as byRoleOK. The requester cannot approve
// their own exception, and an expired or invalid exception cannot be
// approved.
func (e Exception) Approve(by string, byRoleOK bool, now time.Time) (Exception, error) {
	switch {
	case e.RevokedAt != nil:
		return e, fmt.Errorf("exception %s was revoked; request a new one: %w", e.ID, ErrNotPending)
	case e.ApprovedAt != nil:
		return e, fmt.Errorf("exception %s was already approved by %s: %w", e.ID, e.ApprovedBy, ErrNotPending)
	case by == "":
		return e, fmt.Errorf("approver is required: %w", ErrForbidden)
	case by == e.RequestedBy:
		return e, fmt.Errorf("requested by %s; another approver must approve: %w", e.RequestedBy, ErrSelfApproval)
	case !byRoleOK:
		return e, fmt.Errorf("%s may not approve exceptions for team %s; an approver or security member must: %w", by, e.Team, ErrForbidden)
	}
	if err := e.Validate(now); err != nil {
		return e, fmt.Errorf("approve exception %s: %w", e.ID, err)
	}
	at := now
	e.ApprovedBy, e.ApprovedAt = by, &at
	return e, nil
}

// Active reports whether the exception applies at now: approved, not
// revoked, not expired.
func (e Exception) Active(now time.Time) bool {
	if e.ApprovedAt == nil || now.Before(*e.ApprovedAt) {
		return false
	}
	if e.RevokedAt != nil && !now.Before(*e.RevokedAt) {
		return false
	}
	return now.Before(e.Expires)
}

// Covers reports whether the selector picks f. It says nothing about time;
// combine it with Active.
func (e Exception) Covers(f FindingRef) bool {
	s := e.Selector
	if s.empty() {
		return false
	}
	if s.Advisory != "" && !strings.EqualFold(s.Advisory, f.Advisory) {
		return false
	}
	if s.Package != "" && s.Package != f.Package {
		return false
	}
	if s.Host != "" && s.Host != f.HostID && (f.Hostname == "" || s.Host != f.Hostname) {
		return false
	}
	if s.Group != "" && !slices.Contains(f.Groups, s.Group) {
		return false
	}
	return true
}
