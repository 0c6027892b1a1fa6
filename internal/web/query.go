package web

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Bounds on what a query string may ask for.
const (
	defaultPageSize = 50
	maxPageSize     = 200
	maxFilterLen    = 200
)

var severities = []string{"critical", "high", "medium", "low", "unknown"}

// parseHostQuery reads the host list's filters from a query string. Errors
// name the field so the page can say what to fix.
func parseHostQuery(v url.Values) (HostQuery, error) {
	q := HostQuery{
		Search: strings.TrimSpace(v.Get("q")),
		OS:     strings.TrimSpace(v.Get("os")),
		After:  v.Get("after"),
	}
	if len(q.Search) > maxFilterLen || len(q.OS) > maxFilterLen || len(q.After) > maxFilterLen {
		return HostQuery{}, badField("q, os or after", "is longer than %d characters", maxFilterLen)
	}
	var err error
	if q.Stale, err = parseTriState(v.Get("stale")); err != nil {
		return HostQuery{}, badField("stale", "must be yes, no or empty")
	}
	if q.Limit, err = parseLimit(v.Get("limit")); err != nil {
		return HostQuery{}, err
	}
	return q, nil
}

// parseFindingQuery reads the vulnerability list's filters.
func parseFindingQuery(v url.Values) (FindingQuery, error) {
	q := FindingQuery{
		Host:     strings.TrimSpace(v.Get("host")),
		Severity: strings.ToLower(strings.TrimSpace(v.Get("severity"))),
		After:    v.Get("after"),
	}
	if len(q.Host) > maxFilterLen || len(q.After) > maxFilterLen {
		return FindingQuery{}, badField("host or after", "is longer than %d characters", maxFilterLen)
	}
	if q.Severity != "" && !slices.Contains(severities, q.Severity) {
		return FindingQuery{}, badField("severity", "must be one of %s", strings.Join(severities, ", "))
	}
	var err error
	if q.KEV, err = parseTriState(v.Get("kev")); err != nil {
		return FindingQuery{}, badField("kev", "must be yes, no or empty")
	}
	if q.Limit, err = parseLimit(v.Get("limit")); err != nil {
		return FindingQuery{}, err
	}
	return q, nil
}

// parseAuditPage reads the audit log's offset and page size.
func parseAuditPage(v url.Values) (from, limit int, err error) {
	if s := v.Get("from"); s != "" {
		from, err = strconv.Atoi(s)
		if err != nil || from < 0 || from > 1_000_000_000 {
			return 0, 0, badField("from", "must be a whole number from 0")
		}
	}
	limit, err = parseLimit(v.Get("limit"))
	return from, limit, err
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, badField("limit", "must be a whole number from 1 to %d", maxPageSize)
	}
	return n, nil
}

// parseTriState reads "yes"/"no" (and true/false, 1/0, on) into a filter;
// "" means no filter.
func parseTriState(s string) (*bool, error) {
	switch strings.ToLower(s) {
	case "":
		return nil, nil
	case "yes", "true", "1", "on":
		t := true
		return &t, nil
	case "no", "false", "0", "off":
		f := false
		return &f, nil
	}
	return nil, errStatus(400, "")
}

func badField(field, format string, args ...any) error {
	return errStatus(400, "The filter %s %s.", field, fmt.Sprintf(format, args...))
}
