package api

import (
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Page is one page of a list. NextPageToken is empty on the last page.
type Page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
	Total         int    `json:"total"`
}

// Host is a host as the API shows it.
type Host struct {
	ID             string            `json:"id"`
	Hostname       string            `json:"hostname"`
	OS             inventory.OS      `json:"os"`
	Kernel         string            `json:"kernel"`
	Arch           string            `json:"arch"`
	Addresses      []string          `json:"addresses,omitempty"`
	UptimeSeconds  int64             `json:"uptime_seconds"`
	PackageFormat  string            `json:"package_format,omitempty"`
	RebootRequired bool              `json:"reboot_required"`
	RebootReasons  []string          `json:"reboot_reasons,omitempty"`
	Labels         map[string]string `json:"labels"`      // from the agent: os, release, arch, format
	UserLabels     map[string]string `json:"user_labels"` // set by people
	EnrolledAt     time.Time         `json:"enrolled_at"`
	LastSeenAt     time.Time         `json:"last_seen_at"`
	Stale          bool              `json:"stale"`
	Revoked        bool              `json:"revoked"`
	RevokedAt      *time.Time        `json:"revoked_at,omitempty"`
	CertNotAfter   time.Time         `json:"cert_not_after"`
	Revision       int64             `json:"inventory_revision"`
	PackageCount   int               `json:"package_count"`
	UpdateCount    int               `json:"update_count"`
}

// Package is an installed package with the newer version the host's
// repositories offer, if any.
type Package struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	Arch            string `json:"arch,omitempty"`
	Source          string `json:"source,omitempty"`
	SourceVersion   string `json:"source_version,omitempty"`
	Format          string `json:"format"`
	UpdateAvailable string `json:"update_available,omitempty"`
}

// SetLabelsRequest replaces a host's user labels.
type SetLabelsRequest struct {
	Labels map[string]string `json:"labels"`
}

// CreateEnrollTokenRequest asks for an enrollment token.
type CreateEnrollTokenRequest struct {
	MaxHosts int               `json:"max_hosts"` // 0: unlimited
	Expires  string            `json:"expires"`   // Go duration, e.g. "24h"; default 24h
	Labels   map[string]string `json:"labels,omitempty"`
}

// EnrollToken is an enrollment token; Token (the secret) is set only in the
// response that created it.
type EnrollToken struct {
	ID        string            `json:"id"`
	Token     string            `json:"token,omitempty"`
	Prefix    string            `json:"prefix"`
	MaxHosts  int               `json:"max_hosts"`
	Uses      int               `json:"uses"`
	ExpiresAt time.Time         `json:"expires_at"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy string            `json:"created_by,omitempty"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	State     string            `json:"state"` // active, expired, exhausted, revoked
}

// CreateAPITokenRequest asks for an API token.
type CreateAPITokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires,omitempty"` // Go duration; empty: never
}

// APIToken is an API token; Token (the secret) is set only in the response
// that created it.
type APIToken struct {
	ID         string     `json:"id"`
	Token      string     `json:"token,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
