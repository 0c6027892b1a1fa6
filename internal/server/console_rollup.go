package server

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/patchbay/patchbay/internal/store"
	"github.com/patchbay/patchbay/internal/web"
)

// FindingRollup gives the console the API's roll-ups (store.FindingRollup).
func (b consoleBackend) FindingRollup(ctx context.Context, q web.RollupQuery) ([]web.RollupRow, string, int, error) {
	by, ok := rollupKinds[q.By]
	if !ok {
		return nil, "", 0, fmt.Errorf("roll-up by %q", q.By)
	}
	f := store.RollupFilter{Severity: q.Severity, KEV: q.KEV, FixAvailable: q.FixAvailable, Overdue: q.Overdue,
		AdvisoryID: q.Advisory, Package: q.Package, Sort: q.Sort, Order: q.Order, Limit: q.Limit, After: q.After, Now: b.s.now()}
	if q.Host != "" {
		id, err := b.s.resolveHost(ctx, q.Host)
		var e *Error
		switch {
		case errors.As(err, &e):
			f.HostIDs = []string{} // no such host: nothing matches
		case err != nil:
			return nil, "", 0, err
		default:
			f.HostIDs = []string{id}
		}
	}
	rs, next, total, err := b.s.store.FindingRollup(ctx, by, f)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, "", 0, web.ErrNotFound
	}
	if err != nil {
		return nil, "", 0, err
	}
	out := make([]web.RollupRow, 0, len(rs))
	for _, r := range rs {
		row := web.RollupRow{Key: r.Key, Label: r.Key, Summary: r.Summary, Severity: r.Severity, Priority: int(math.Round(r.Priority)),
			Findings: r.Findings, Excepted: r.Excepted, Hosts: r.Hosts, Advisories: r.Advisories, FixHosts: r.FixHosts,
			FixFindings: r.FixFindings, KEV: r.KEVFindings, Overdue: r.Overdue, EPSS: r.EPSS}
		if by == store.ByHost {
			row.Label = r.Hostname
		}
		if row.Severity == "" && by == store.ByAdvisory {
			row.Severity = "unknown"
		}
		if r.DueAt != nil {
			row.Due = *r.DueAt
		}
		out = append(out, row)
	}
	return out, next, total, nil
}

// CountFindings counts the open findings the console's ranked list shows,
// up to web.FindingCountCap (then it answers one more: "more than").
func (b consoleBackend) CountFindings(ctx context.Context, q web.FindingQuery) (int, error) {
	f, err := b.findingFilter(ctx, q)
	if err != nil {
		return 0, err
	}
	return b.s.store.CountFindingsUpTo(ctx, f, web.FindingCountCap)
}
