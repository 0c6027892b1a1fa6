package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/advisory"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
)

// feedName is a feed's one identity, whether it came by sync or by
// import: "osv-almalinux" for OSV records named "almalinux" or
// "osv-almalinux", "alpine-secdb-v3.20-main", and the fixed "cisa-kev"
// and "first-epss" for the KEV catalog and the EPSS scores (there is one
// of each).
func feedName(kind, name string) string {
	switch kind {
	case advisory.KindKEV:
		return advisory.SourceKEV
	case advisory.KindEPSS:
		return advisory.SourceEPSS
	}
	if strings.HasPrefix(name, kind+"-") {
		return name
	}
	return kind + "-" + name
}

// feedAudit gives a feed import or deletion its audit entry, committed
// with it: the request's own entry when the request has not stored one
// yet (an API import), otherwise an entry of its own (each feed of a sync,
// the scheduled sync). in.Describe fills in what the import changed.
func (s *Server) feedAudit(ctx context.Context, in *store.FeedImport, verb string) context.Context {
	p := store.AuditFrom(ctx)
	if p == nil || !p.Pending() {
		actor := "feed sync"
		if principalFrom(ctx).TokenID != "" {
			actor = principalName(ctx, s)
		}
		p = store.NewPendingAudit(audit.Entry{Time: s.now(), Actor: actor, Action: "feed.import", Target: "feed " + in.Status.Name, Outcome: "ok"})
		ctx = store.WithAudit(ctx, p)
	}
	name, origin := in.Status.Name, in.Status.Origin
	in.Describe = func(d store.FeedDelta) {
		after, _ := json.Marshal(d)
		msg := fmt.Sprintf("feed %s %s from %s: %d added, %d changed, %d removed", name, verb, origin, d.Added, d.Changed, d.Removed)
		if !in.Status.SnapshotAt.IsZero() {
			msg += fmt.Sprintf(" (snapshot of %s%s)", in.Status.SnapshotAt.UTC().Format(time.RFC3339), versionSuffix(in.Status.SnapshotVersion))
		}
		if in.Replace {
			msg += ", with --replace"
		}
		p.Update(func(e *audit.Entry) { e.Summary, e.After = msg, after })
	}
	return ctx
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return ", version " + v
}

// handleDeleteFeed removes a feed: its advisories leave the index and
// the hosts whose packages they named are matched again, so their
// findings resolve ("advisory no longer affects …"); deleting the KEV or
// EPSS feed rescores every open finding.
func (s *Server) handleDeleteFeed(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !feedNameRE.MatchString(name) {
		return errBadRequest("feed name: letters, digits and ._:+- (at most 128)")
	}
	if err := s.vulns.waitLoaded(r.Context()); err != nil {
		return err
	}
	ctx := r.Context()
	auditSummary(ctx, "feed %s deleted", name)
	kind, ids, err := s.store.DeleteFeed(ctx, name)
	if err != nil {
		return err
	}
	keys := s.vulns.index.Remove(ids...)
	matched, err := s.vulns.matchKeys(ctx, keys)
	if err != nil {
		return err
	}
	rescored := 0
	if kind == advisory.KindKEV || kind == advisory.KindEPSS {
		if rescored, err = s.store.Rescore(ctx, "", s.vulns.score); err != nil {
			return err
		}
	}
	s.log.Info("feed deleted", "feed", name, "advisories", len(ids), "hosts_reconciled", matched.Hosts)
	return writeJSON(w, 200, map[string]any{"feed": name, "kind": kind, "advisories_removed": len(ids),
		"hosts_reconciled": matched.Hosts, "findings_rescored": rescored})
}

func importResultView(res ImportResult) api.ImportResult {
	out := api.ImportResult{Feed: feedView(res.Feed), Added: res.Delta.Added, Changed: res.Delta.Changed, Removed: res.Delta.Removed,
		ChangedRecords: res.Feed.Changed, HostsReconciled: res.HostsReconciled, FindingsRescored: res.Rescored}
	if res.Job != nil {
		out.Job = feedJobView(*res.Job)
	}
	return out
}

// queryBool reads an optional boolean query parameter ("true", "false").
func queryBool(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, errBadRequest(fmt.Sprintf("%s must be true or false, not %q", name, v))
	}
}
