package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/spf13/cobra"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns. Every cell is made inert: control
// characters and escape sequences a hostile host reported are shown quoted,
// never sent to the terminal.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = inert(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func inert(s string) string {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\t' || r == unicode.ReplacementChar || unicode.Is(unicode.Bidi_Control, r) {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// listPages reads up to limit items of a paged API list (limit 0: every
// item), following next_page_token, and returns them with the list's total.
func listPages[T any](ctx context.Context, c *client.Client, path string, q url.Values, limit int) ([]T, int, error) {
	q = maps.Clone(q)
	if q == nil {
		q = url.Values{}
	}
	all := []T{}
	total := 0
	for {
		size := 1000
		if limit > 0 {
			size = min(limit-len(all), 1000)
		}
		q.Set("limit", strconv.Itoa(size))
		var page api.Page[T]
		if err := c.Do(ctx, "GET", path, q, nil, &page); err != nil {
			return nil, 0, err
		}
		all = append(all, page.Items...)
		total = page.Total
		if page.NextPageToken == "" || (limit > 0 && len(all) >= limit) {
			return all, max(total, len(all)), nil
		}
		q.Set("page_token", page.NextPageToken)
	}
}

// showing tells, on stderr and only in table mode, that a list was cut:
// "showing 100 of 23602 advisories (--all for every one, --limit N)".
func showing(w io.Writer, output string, n, total int, noun string) {
	if output != "table" || n >= total {
		return
	}
	fmt.Fprintf(w, "showing %d of %d %s (--all for every one, or --limit N)\n", n, total, noun)
}

// pagingFlags are --limit and --all.
type pagingFlags struct {
	limit int
	all   bool
}

func (p *pagingFlags) add(cmd *cobra.Command, def int, noun string) {
	cmd.Flags().IntVar(&p.limit, "limit", def, "at most this many "+noun)
	cmd.Flags().BoolVar(&p.all, "all", false, "every one of the "+noun+", page after page")
}

// max is the item limit for listPages: 0 with --all.
func (p *pagingFlags) max() (int, error) {
	if p.all {
		return 0, nil
	}
	if p.limit < 1 {
		return 0, fmt.Errorf("--limit %d: give a positive number, or --all", p.limit)
	}
	return p.limit, nil
}
