package server

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/store"
)

// staleAfter is how long a host may be silent before it is shown stale:
// three check-in intervals.
func (s *Server) staleAfter() time.Duration { return 3 * s.cfg.CheckinInterval }

func (s *Server) hostView(h store.Host) api.Host {
	now := s.now()
	return api.Host{
		ID: h.ID, Hostname: h.Hostname, OS: h.Facts.OS, Kernel: h.Facts.Kernel, Arch: h.Facts.Arch,
		Addresses: h.Facts.Addresses, UptimeSeconds: int64(h.Facts.Uptime / time.Second),
		PackageFormat: string(h.Facts.PackageFormat), RebootRequired: h.Facts.RebootRequired, AgentVersion: h.Facts.AgentVersion, AgentPlatform: h.Facts.AgentPlatform,
		RebootReasons: h.Facts.RebootReasons, ServicesNeedingRestart: h.Facts.ServicesNeedingRestart, Labels: nonNil(h.Labels), UserLabels: nonNil(h.UserLabels),
		EnrolledAt: h.EnrolledAt, LastSeenAt: h.LastSeenAt, Stale: now.Sub(h.LastSeenAt) > s.staleAfter(),
		Revoked: h.RevokedAt != nil, RevokedAt: h.RevokedAt, CertNotAfter: h.CertNotAfter,
		Revision: h.Revision, PackageCount: h.PackageCount, UpdateCount: h.UpdateCount,
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// hostFilter reads the list filters from the query string.
func (s *Server) hostFilter(r *http.Request) (store.HostFilter, error) {
	q := r.URL.Query()
	f := store.HostFilter{OS: q.Get("os"), Search: q.Get("q"), After: q.Get("page_token")}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return f, err
	}
	f.Limit = limit
	if v := q.Get("stale"); v != "" {
		stale, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("stale must be true or false")
		}
		cut := s.now().Add(-s.staleAfter())
		if stale {
			f.SeenBefore = &cut
		} else {
			f.SeenSince = &cut
		}
	}
	if v := q.Get("reboot_required"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("reboot_required must be true or false")
		}
		f.RebootRequired = &b
	}
	labels, err := api.ParseLabels(q["label"])
	if err != nil {
		return f, errBadRequest(err.Error())
	}
	f.Labels = labels
	if v := q.Get("revoked"); v == "true" {
		f.IncludeRevoked = true
	}
	return f, nil
}

func (s *Server) handleListHosts(w http.ResponseWriter, r *http.Request) error {
	f, err := s.hostFilter(r)
	if err != nil {
		return err
	}
	hosts, next, err := s.store.ListHosts(r.Context(), f)
	if err != nil {
		return err
	}
	total, err := s.store.CountHosts(r.Context(), f)
	if err != nil {
		return err
	}
	ids := make([]string, len(hosts))
	for i, h := range hosts {
		ids[i] = h.ID
	}
	open, err := s.store.OpenFindingsByHost(r.Context(), ids)
	if err != nil {
		return err
	}
	page := api.Page[api.Host]{Items: make([]api.Host, 0, len(hosts)), NextPageToken: next, Total: total}
	for _, h := range hosts {
		v := s.hostView(h)
		v.OpenFindings = open[h.ID]
		page.Items = append(page.Items, v)
	}
	return writeJSON(w, 200, page)
}

func (s *Server) handleGetHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.store.GetHost(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	open, err := s.store.OpenFindingsByHost(r.Context(), []string{h.ID})
	if err != nil {
		return err
	}
	v := s.hostView(h)
	v.OpenFindings = open[h.ID]
	switch q, err := s.store.HostQuarantine(r.Context(), h.ID); {
	case err == nil:
		v.Quarantine = &api.Quarantine{Active: q.Active(), QuarantinedAt: q.QuarantinedAt, ReleasedAt: q.ReleasedAt, Hook: q.Hook, Reason: q.Reason}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return writeJSON(w, 200, v)
}

func (s *Server) handleHostPackages(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.store.GetHost(r.Context(), id); err != nil {
		return err
	}
	pkgs, err := s.store.ListHostPackages(r.Context(), id)
	if err != nil {
		return err
	}
	page := api.Page[api.Package]{Items: make([]api.Package, 0, len(pkgs)), Total: len(pkgs)}
	// ?limit= pages by (name, arch), the order ListHostPackages keeps;
	// without it every package comes in one page.
	if r.URL.Query().Has("limit") || r.URL.Query().Has("page_token") {
		limit, err := queryInt(r, "limit", 100, 1000)
		if err != nil {
			return err
		}
		byNameArch := func(p store.HostPackage, name, arch string) int {
			return cmp.Or(cmp.Compare(p.Name, name), cmp.Compare(p.Arch, arch))
		}
		// The database's collation may differ from byte order: page in
		// byte order, whatever it is.
		slices.SortFunc(pkgs, func(a, b store.HostPackage) int { return byNameArch(a, b.Name, b.Arch) })
		if tok := r.URL.Query().Get("page_token"); tok != "" {
			b, err := base64.RawURLEncoding.DecodeString(tok)
			name, arch, ok := strings.Cut(string(b), "\x00")
			if err != nil || !ok {
				return store.ErrBadCursor
			}
			i, _ := slices.BinarySearchFunc(pkgs, [2]string{name, arch}, func(p store.HostPackage, k [2]string) int {
				return byNameArch(p, k[0], k[1])
			})
			for i < len(pkgs) && pkgs[i].Name == name && pkgs[i].Arch == arch {
				i++
			}
			pkgs = pkgs[i:]
		}
		if len(pkgs) > limit {
			pkgs = pkgs[:limit]
			last := pkgs[limit-1]
			page.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(last.Name + "\x00" + last.Arch))
		}
	}
	for _, p := range pkgs {
		page.Items = append(page.Items, api.Package{
			Name: p.Name, Version: p.Version, Arch: p.Arch, Source: p.Source, SourceVersion: p.SourceVersion,
			Format: string(p.Format), UpdateAvailable: p.UpdateVersion,
		})
	}
	return writeJSON(w, 200, page)
}

var labelKeyRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._/-]{0,62}[a-z0-9])?$`)

// checkLabels checks a host's user labels, as people set them or an agent
// sends them at enrollment.
func checkLabels(labels map[string]string) error {
	if len(labels) > 64 {
		return errors.New("at most 64 labels per host")
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return fmt.Errorf("label key %q: use lower-case letters, digits, '.', '_', '-', '/' (at most 64)", k)
		}
		if len(v) > 256 || !utf8.ValidString(v) {
			return fmt.Errorf("label %q: value longer than 256 bytes or not UTF-8", k)
		}
	}
	return nil
}

func (s *Server) handleSetHostLabels(w http.ResponseWriter, r *http.Request) error {
	var req api.SetLabelsRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if err := checkLabels(req.Labels); err != nil {
		return errBadRequest(err.Error())
	}
	id := r.PathValue("id")
	h, err := s.store.GetHost(r.Context(), id)
	if err != nil {
		return err
	}
	// A host owned by teams is changed only by an operator of one of them.
	_, org := s.org.get()
	if teams := org.Effective(hostInfo(h)).Teams; len(teams) > 0 {
		if err := s.requireTeamRole(r.Context(), teams, "operator", "admin"); err != nil {
			return err
		}
	}
	setAuditDiff(r.Context(), map[string]any{"user_labels": h.UserLabels}, map[string]any{"user_labels": req.Labels})
	auditSummary(r.Context(), "labels of host %s set to %s", h.Hostname, formatLabels(req.Labels))
	if err := s.store.SetHostUserLabels(r.Context(), id, req.Labels); err != nil {
		return err
	}
	h, err = s.store.GetHost(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, s.hostView(h))
}

func (s *Server) handleRevokeHost(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	auditSummary(r.Context(), "host %s revoked", id)
	if err := s.store.RevokeHost(r.Context(), id, s.now()); err != nil {
		return err
	}
	s.log.Warn("host revoked", "host", id, "by", principalFrom(r.Context()).TokenID)
	h, err := s.store.GetHost(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, s.hostView(h))
}
