package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// rollupFilter reads a roll-up's filters: host (ID or hostname,
// repeatable), group, team, label, severity (unknown included), kev,
// overdue, fix_available, excepted, advisory, package; sort, order, limit,
// page_token.
func (s *Server) rollupFilter(r *http.Request) (store.RollupFilter, error) {
	q := r.URL.Query()
	f := store.RollupFilter{Severity: q.Get("severity"), AdvisoryID: q.Get("advisory"), Package: q.Get("package"),
		Sort: q.Get("sort"), Order: q.Get("order"), After: q.Get("page_token"), Now: s.now()}
	if f.Severity != "" && !severities[f.Severity] {
		return f, errBadRequest("severity must be critical, high, medium, low, none or unknown")
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return f, err
	}
	f.Limit = limit
	for name, dst := range map[string]**bool{"kev": &f.KEV, "fix_available": &f.FixAvailable, "excepted": &f.Excepted} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, errBadRequest(name + " must be true or false")
			}
			*dst = &b
		}
	}
	if v := q.Get("overdue"); v != "" {
		if f.Overdue, err = strconv.ParseBool(v); err != nil {
			return f, errBadRequest("overdue must be true or false")
		}
	}
	labels, err := api.ParseLabels(q["label"])
	if err != nil {
		return f, errBadRequest(err.Error())
	}
	f.Labels = labels
	for _, ref := range q["host"] {
		id, err := s.resolveHost(r.Context(), ref)
		if err != nil {
			return f, err
		}
		f.HostIDs = append(f.HostIDs, id)
	}
	if group, team := q.Get("group"), q.Get("team"); group != "" || team != "" {
		ids, err := s.hostsInOrg(r.Context(), group, team)
		if err != nil {
			return f, err
		}
		if f.HostIDs != nil {
			ids = slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(f.HostIDs, id) })
		}
		f.HostIDs = ids
	}
	return f, nil
}

// hostsInOrg lists the active hosts in the group (and owned by the team:
// one of the teams of its groups), as the organisation resolves them now.
func (s *Server) hostsInOrg(ctx context.Context, group, team string) ([]string, error) {
	_, org := s.org.get()
	if group != "" && !slices.ContainsFunc(org.Groups, func(g policy.Group) bool { return g.Name == group }) {
		return nil, &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no group %q (patchbay org export lists them)", group)}
	}
	infos, err := s.hostInfos(ctx)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, h := range infos {
		e := org.Effective(h)
		if (group == "" || slices.Contains(e.Groups, group)) && (team == "" || slices.Contains(e.Teams, team)) {
			ids = append(ids, h.ID)
		}
	}
	return ids, nil
}

var rollupKinds = map[string]store.RollupBy{"advisory": store.ByAdvisory, "host": store.ByHost, "package": store.ByPackage}

// handleFindingRollup lists open findings grouped by advisory, host or
// package: GET /api/v1/vulns/by/{by}.
func (s *Server) handleFindingRollup(w http.ResponseWriter, r *http.Request) error {
	by, ok := rollupKinds[r.PathValue("by")]
	if !ok {
		return &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no roll-up by %q: use advisory, host or package", r.PathValue("by"))}
	}
	f, err := s.rollupFilter(r)
	if err != nil {
		return err
	}
	rs, next, total, err := s.store.FindingRollup(r.Context(), by, f)
	if errors.Is(err, store.ErrBadFilter) {
		return errBadRequest(err.Error())
	}
	if err != nil {
		return err
	}
	page := api.Page[api.FindingRollup]{Items: make([]api.FindingRollup, 0, len(rs)), NextPageToken: next, Total: total}
	for _, x := range rs {
		page.Items = append(page.Items, rollupView(by, x))
	}
	return writeJSON(w, 200, page)
}

func rollupView(by store.RollupBy, x store.Rollup) api.FindingRollup {
	v := api.FindingRollup{By: string(by), Priority: x.Priority, Findings: x.Findings, Open: x.Findings - x.Excepted,
		Excepted: x.Excepted, Hosts: x.Hosts, Advisories: x.Advisories, FixHosts: x.FixHosts, FixFindings: x.FixFindings,
		KEV: x.KEVFindings, Overdue: x.Overdue, DueAt: x.DueAt}
	if x.EPSS >= 0 {
		e := x.EPSS
		v.EPSS = &e
	}
	switch by {
	case store.ByAdvisory:
		v.AdvisoryID, v.Summary, v.Severity = x.Key, x.Summary, x.Severity
		if v.Severity == "" {
			v.Severity = "unknown"
		}
		v.FindingsURL = "/api/v1/vulns?advisory=" + url.QueryEscape(x.Key)
	case store.ByHost:
		v.HostID, v.Hostname = x.Key, x.Hostname
		v.FindingsURL = "/api/v1/hosts/" + url.PathEscape(x.Key) + "/findings"
	case store.ByPackage:
		v.Package = x.Key
		v.FindingsURL = "/api/v1/vulns/by/host?package=" + url.QueryEscape(x.Key)
	}
	return v
}
