package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// MaxFeedUpload bounds a feed upload (the osv.dev Debian all.zip is the
// largest public one, a few hundred MB).
const MaxFeedUpload = 1 << 30

func (s *Server) findingView(f store.Finding) api.Finding {
	v := api.Finding{ID: f.ID, HostID: f.HostID, Hostname: f.Hostname, Package: f.Name, Arch: f.Arch, AdvisoryID: f.AdvisoryID,
		CVEs: f.CVEs, Summary: f.Summary, InstalledVersion: f.InstalledVersion, FixedVersion: f.FixedVersion,
		FixAvailable: f.FixAvailable, Status: f.Status, FirstSeenAt: f.FirstSeenAt, ResolvedAt: f.ResolvedAt,
		Resolution: f.Resolution, Reopened: f.Reopened, Severity: f.Severity, Priority: f.Priority, SSVC: f.SSVC,
		Reasons: f.Reasons, KEV: f.KEV, DueAt: f.DueAt, DueReason: f.DueReason}
	if v.CVEs == nil {
		v.CVEs = []string{}
	}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	v.Overdue = f.Status == "open" && f.DueAt != nil && f.DueAt.Before(s.now())
	v.ExceptionID, v.Excepted = f.ExceptionID, f.ExceptionID != ""
	return v
}

// markHeld fills in which findings' packages the hosts' policies hold back.
func (s *Server) markHeld(ctx context.Context, fs []api.Finding) {
	_, org := s.org.get()
	if len(org.Groups) == 0 {
		return
	}
	eff := map[string]policy.Effective{}
	now := s.now()
	for i := range fs {
		e, ok := eff[fs[i].HostID]
		if !ok {
			h, err := s.store.GetHost(ctx, fs[i].HostID)
			if err != nil {
				continue
			}
			e = org.Effective(hostInfo(h))
			eff[fs[i].HostID] = e
		}
		if hold, held := e.Policy.Held(fs[i].Package, now); held {
			fs[i].Held = hold.Reason
			if fs[i].Held == "" {
				fs[i].Held = "held by policy"
			}
		}
	}
}

var severities = map[string]bool{"critical": true, "high": true, "medium": true, "low": true, "none": true, "unknown": true}

func (s *Server) findingFilter(r *http.Request) (store.FindingFilter, error) {
	q := r.URL.Query()
	f := store.FindingFilter{Status: q.Get("status"), Severity: q.Get("severity"), After: q.Get("page_token"), AdvisoryID: q.Get("advisory")}
	if f.Severity != "" && !severities[f.Severity] {
		return f, errBadRequest("severity must be critical, high, medium, low, none or unknown")
	}
	switch f.Status {
	case "", "open", "resolved", "all":
	default:
		return f, errBadRequest("status must be open, resolved or all")
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return f, err
	}
	f.Limit = limit
	if h := q.Get("host"); h != "" {
		host, err := s.resolveHost(r.Context(), h)
		if err != nil {
			return f, err
		}
		f.HostID = host
	}
	f.AdvisoryID = q.Get("advisory")
	if v := q.Get("kev"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("kev must be true or false")
		}
		f.KEV = &b
	}
	if v := q.Get("excepted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("excepted must be true or false")
		}
		f.Excepted = &b
	}
	if v := q.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("overdue must be true or false")
		}
		if b {
			now := s.now()
			f.Overdue = &now
		}
	}
	labels, err := api.ParseLabels(q["label"])
	if err != nil {
		return f, errBadRequest(err.Error())
	}
	f.Labels = labels
	return f, nil
}

// resolveHost accepts a host ID or an exact hostname.
func (s *Server) resolveHost(ctx context.Context, ref string) (string, error) {
	if _, err := s.store.GetHost(ctx, ref); err == nil {
		return ref, nil
	}
	hosts, _, err := s.store.ListHosts(ctx, store.HostFilter{Search: ref, Limit: 1000})
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		if h.Hostname == ref {
			return h.ID, nil
		}
	}
	return "", &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no host %q", ref)}
}

func (s *Server) handleListVulns(w http.ResponseWriter, r *http.Request) error {
	f, err := s.findingFilter(r)
	if err != nil {
		return err
	}
	fs, next, err := s.store.ListFindings(r.Context(), f)
	if err != nil {
		return err
	}
	total, err := s.store.CountFindings(r.Context(), f)
	if err != nil {
		return err
	}
	page := api.Page[api.Finding]{Items: make([]api.Finding, 0, len(fs)), NextPageToken: next, Total: total}
	for _, x := range fs {
		page.Items = append(page.Items, s.findingView(x))
	}
	s.markHeld(r.Context(), page.Items)
	return writeJSON(w, 200, page)
}

func (s *Server) handleHostFindings(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.store.GetHost(r.Context(), id); err != nil {
		return err
	}
	q := r.URL.Query()
	// Without ?limit= every finding of the host comes in one page.
	f := store.FindingFilter{HostID: id, Status: q.Get("status"), Limit: 100000, After: q.Get("page_token")}
	if q.Has("limit") {
		limit, err := queryInt(r, "limit", 100, 1000)
		if err != nil {
			return err
		}
		f.Limit = limit
	}
	fs, next, err := s.store.ListFindings(r.Context(), f)
	if err != nil {
		if errors.Is(err, store.ErrBadFilter) {
			return errBadRequest(err.Error())
		}
		return err
	}
	total, err := s.store.CountFindings(r.Context(), f)
	if err != nil {
		return err
	}
	page := api.Page[api.Finding]{Items: make([]api.Finding, 0, len(fs)), NextPageToken: next, Total: total}
	for _, x := range fs {
		v := s.findingView(x)
		if q.Get("history") == "true" {
			evs, err := s.store.FindingHistory(r.Context(), x.ID)
			if err != nil {
				return err
			}
			for _, e := range evs {
				v.History = append(v.History, api.Event{At: e.At, Kind: e.Kind, Detail: e.Detail})
			}
		}
		page.Items = append(page.Items, v)
	}
	s.markHeld(r.Context(), page.Items)
	return writeJSON(w, 200, page)
}

var cveRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func (s *Server) handleShowVuln(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ids := []string{id}
	if cveRE.MatchString(strings.ToUpper(id)) {
		found, err := s.store.AdvisoriesByCVE(r.Context(), strings.ToUpper(id))
		if err != nil {
			return err
		}
		if len(found) > 0 {
			ids = found
		}
	}
	var out []api.Vulnerability
	for _, aid := range ids {
		a, err := s.store.GetAdvisory(r.Context(), aid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		fs, _, err := s.store.ListFindings(r.Context(), store.FindingFilter{AdvisoryID: aid, Limit: 100000})
		if err != nil {
			return err
		}
		v := api.Vulnerability{ID: a.ID, Source: a.Source, Feed: a.Feed, Summary: a.Summary, Severity: a.Severity, CVSS: a.CVSS,
			CVEs: a.CVEs, Published: a.Published, Modified: a.Modified, Withdrawn: a.Withdrawn, Advisory: json.RawMessage(a.Data),
			Findings: make([]api.Finding, 0, len(fs))}
		if v.CVEs == nil {
			v.CVEs = []string{}
		}
		rs, _, _, err := s.store.FindingRollup(r.Context(), store.ByAdvisory, store.RollupFilter{AdvisoryID: aid, Now: s.now()})
		if err != nil {
			return err
		}
		if len(rs) == 1 {
			v.AffectedHosts = rs[0].Hosts
		}
		for _, x := range fs {
			v.Findings = append(v.Findings, s.findingView(x))
		}
		s.markHeld(r.Context(), v.Findings)
		out = append(out, v)
	}
	if len(out) == 0 {
		return &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no advisory or CVE %q", id)}
	}
	return writeJSON(w, 200, api.Page[api.Vulnerability]{Items: out, Total: len(out)})
}

func feedView(f store.FeedStatus) api.FeedStatus {
	v := api.FeedStatus{Name: f.Name, Kind: f.Kind, Origin: f.Origin, LastSync: f.LastSync, Records: f.Records,
		Changed: f.Changed, Rejected: f.Rejected, Duplicates: f.Duplicates, Error: f.Error, SnapshotVersion: f.SnapshotVersion}
	if !f.SnapshotAt.IsZero() {
		t := f.SnapshotAt
		v.SnapshotAt = &t
	}
	for _, r := range f.Rejections {
		v.Rejections = append(v.Rejections, api.Rejection{Record: r.Record, Reason: r.Reason})
	}
	return v
}

func (s *Server) handleListFeeds(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.store.ListFeeds(r.Context())
	if err != nil {
		return err
	}
	page := api.Page[api.FeedStatus]{Items: make([]api.FeedStatus, 0, len(fs)), Total: len(fs)}
	for _, f := range fs {
		page.Items = append(page.Items, feedView(f))
	}
	return writeJSON(w, 200, page)
}

var feedNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$`)

// handleImportFeed reads a feed file from the request body: an OSV zip or
// JSON record, Alpine secdb JSON, CISA KEV JSON or CSV, EPSS CSV (plain or
// gzip). The kind is recognised from the content. ?name= names the feed.
// The answer names the job that matches what changed; ?wait=true answers
// when that job has ended.
func (s *Server) handleImportFeed(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if !feedNameRE.MatchString(name) {
		return errBadRequest("name is required: letters, digits and ._:+- (at most 128)")
	}
	replace, err := queryBool(r, "replace")
	if err != nil {
		return err
	}
	wait, err := queryBool(r, "wait")
	if err != nil {
		return err
	}
	if err := s.vulns.waitLoaded(r.Context()); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "patchbay-feed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The name on disk decides only how ReadOSV opens the file (zip or
	// not); the content decides the kind.
	path := filepath.Join(dir, "feed")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, MaxFeedUpload))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return errBadRequest("empty feed")
	}
	kind, err := advisory.Kind(path)
	if err != nil {
		return errBadRequest(strings.ReplaceAll(err.Error(), path, name))
	}
	if kind == advisory.KindOSV && isZip(path) {
		if err := os.Rename(path, path+".zip"); err != nil {
			return err
		}
		path += ".zip"
	}
	var opts advisory.ReadOptions
	if kind == advisory.KindOSV {
		// Records whose bytes are stored already are not parsed again.
		if opts.Stored, err = s.store.FeedRawHashes(r.Context(), feedName(kind, name)); err != nil {
			return err
		}
	}
	feed, kind, err := advisory.ReadAnyWith(r.Context(), path, opts)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), path, name)
		if _, gerr := s.store.GetFeed(r.Context(), feedName(kind, name)); gerr == nil {
			_ = s.store.RecordFeedError(r.Context(), feedName(kind, name), kind, "upload "+name, msg)
		}
		return errBadRequest(msg)
	}
	feed.Name = name
	res, err := s.vulns.importFeed(r.Context(), feed, kind, "upload "+name, replace)
	if err != nil {
		return err
	}
	view, err := s.finishImport(r.Context(), res, wait)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, view)
}

func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == "PK\x03\x04"
}

func (s *Server) handleSyncFeeds(w http.ResponseWriter, r *http.Request) error {
	if len(s.cfg.FeedSources) == 0 {
		return errBadRequest("no feed sources configured (--feed-source NAME=URL)")
	}
	results := s.syncFeeds(r.Context())
	page := api.Page[api.ImportResult]{Items: results, Total: len(results)}
	return writeJSON(w, 200, page)
}
