package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/spf13/cobra"
)

func newFeedsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "feeds", Short: "Import, sync and inspect vulnerability feeds (OSV, Alpine secdb, CISA KEV, EPSS)"}
	cmd.AddCommand(newFeedsImportCmd(g), newFeedsSyncCmd(g), newFeedsStatusCmd(g), newFeedsDeleteCmd(g))
	return cmd
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._:+-]+`)

func newFeedsImportCmd(g *globals) *cobra.Command {
	var name string
	var replace, wait bool
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Import a feed offline: an OSV directory, zip or JSON record, Alpine secdb JSON, CISA KEV JSON or CSV, EPSS CSV (plain or gzip)",
		Long: `Import a feed from a file or directory, for air-gapped sites. The server recognises the kind from the
content and stores it in one transaction: either the whole feed lands or none of it. Malformed records are
rejected one by one with a reason (see 'feeds status') while the rest imports. Re-importing the same content
changes nothing. A directory is sent as a zip of its *.json files (OSV records). A file or directory with no
valid record is an error and creates nothing.

The KEV catalog and the EPSS scores are dated snapshots: an import older than the stored one, or one that
would remove more than 10% of the stored entries, is refused with the numbers; --replace accepts it. Each
import prints what it added, changed and removed.

Matching what changed against the fleet runs on the server as a job, off the request path: hosts whose
packages a new or changed advisory names get their findings opened, resolved and rescored. By default the
command waits for that job and prints what it did; --wait=false prints the job's ID and state at once, and
'feeds status' follows it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			path := args[0]
			info, err := os.Stat(path)
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(filepath.Clean(path)), filepath.Ext(path))
				name = strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
			}
			var body io.Reader
			if info.IsDir() {
				b, n, err := zipJSONDir(path)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("%s holds no *.json files", path)
				}
				body = bytes.NewReader(b)
			} else {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				body = f
			}
			var res api.ImportResult
			q := url.Values{"name": {name}}
			if replace {
				q.Set("replace", "true")
			}
			if wait {
				q.Set("wait", "true")
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/feeds/import", q, body, &res); err != nil {
				return err
			}
			return printImport(cmd.OutOrStdout(), g.output, []api.ImportResult{res})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "feed name (default: the file or directory name)")
	cmd.Flags().BoolVar(&replace, "replace", false, "accept a KEV or EPSS snapshot older than the stored one, or one that removes more than 10% of it")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait for the matching job the import starts (--wait=false: print its ID and state at once)")
	return cmd
}

// zipJSONDir packs the *.json files under dir into a zip, as osv.dev
// publishes its per-ecosystem archives. Files are read and compressed on
// GOMAXPROCS goroutines (at the fastest deflate level: packing is on the
// import's critical path) and written in walk order.
func zipJSONDir(dir string) ([]byte, int, error) {
	var names, paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".json") || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		names, paths = append(names, filepath.ToSlash(rel)), append(paths, p)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	type packed struct {
		data       []byte // deflated
		size       uint64
		crc        uint32
		err        error
		compressed chan struct{}
	}
	out := make([]*packed, len(paths))
	for i := range out {
		out[i] = &packed{compressed: make(chan struct{})}
	}
	next := make(chan int)
	go func() {
		for i := range paths {
			next <- i
		}
		close(next)
	}()
	for range runtime.GOMAXPROCS(0) {
		go func() {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
			for i := range next {
				pk := out[i]
				raw, err := os.ReadFile(paths[i])
				if err == nil {
					buf.Reset()
					fw.Reset(&buf)
					if _, err = fw.Write(raw); err == nil {
						err = fw.Close()
					}
				}
				pk.err, pk.size, pk.crc = err, uint64(len(raw)), crc32.ChecksumIEEE(raw)
				pk.data = bytes.Clone(buf.Bytes())
				close(pk.compressed)
			}
		}()
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, pk := range out {
		<-pk.compressed
		if pk.err != nil {
			for _, rest := range out[i+1:] { // let the workers finish
				<-rest.compressed
			}
			return nil, 0, pk.err
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: names[i], Method: zip.Deflate, CRC32: pk.crc,
			CompressedSize64: uint64(len(pk.data)), UncompressedSize64: pk.size, Modified: time.Unix(0, 0).UTC()})
		if err == nil {
			_, err = w.Write(pk.data)
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), len(out), nil
}

func printImport(w io.Writer, output string, rs []api.ImportResult) error {
	if output == "json" {
		return printJSON(w, rs)
	}
	t := newTable(w, "FEED", "KIND", "RECORDS", "ADDED", "CHANGED", "REMOVED", "REJECTED", "DUPLICATES", "HOSTS RECONCILED", "ERROR")
	for _, r := range rs {
		t.row(r.Feed.Name, r.Feed.Kind, strconv.Itoa(r.Feed.Records), strconv.Itoa(r.Added), strconv.Itoa(r.Changed), strconv.Itoa(r.Removed),
			strconv.Itoa(r.Feed.Rejected), strconv.Itoa(r.Feed.Duplicates), strconv.Itoa(r.HostsReconciled), r.Feed.Error)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if j := r.Job; j != nil {
			fmt.Fprintf(w, "job %s: %s", j.ID, j.State)
			if j.State == "done" {
				fmt.Fprintf(w, ", %d hosts: %d opened, %d resolved, %d reopened, %d updated, %d rescored", j.Hosts, j.Opened, j.Resolved,
					j.Reopened, j.Updated, j.Rescored)
			}
			fmt.Fprintln(w)
		}
		for i, rej := range r.Feed.Rejections {
			if i == 10 {
				fmt.Fprintf(w, "  ... %d more rejected records: patchbay feeds status -o json\n", r.Feed.Rejected-10)
				break
			}
			fmt.Fprintf(w, "  rejected %s: %s\n", inert(rej.Record), inert(rej.Reason))
		}
	}
	return nil
}

func newFeedsSyncCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sync",
		Short: "Fetch every configured feed source now (the server also syncs on its schedule)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.ImportResult]
			if err := c.Do(cmd.Context(), "POST", "/api/v1/feeds/sync", nil, nil, &page); err != nil {
				return err
			}
			return printImport(cmd.OutOrStdout(), g.output, page.Items)
		},
	}
}

func newFeedsStatusCmd(g *globals) *cobra.Command {
	var job string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each feed's source, last sync, records and rejected records, and the newest matching jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var page api.Page[api.FeedStatus]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/feeds", nil, nil, &page); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output == "json" && job != "" {
				var j api.FeedJob
				if err := c.Do(cmd.Context(), "GET", "/api/v1/feeds/jobs/"+url.PathEscape(job), nil, nil, &j); err != nil {
					return err
				}
				return printJSON(out, j)
			}
			if g.output == "json" {
				return printJSON(out, page.Items)
			}
			t := newTable(out, "FEED", "KIND", "ORIGIN", "LAST SYNC", "RECORDS", "CHANGED", "REJECTED", "DUPLICATES", "ERROR")
			for _, f := range page.Items {
				last := "never"
				if !f.LastSync.IsZero() && f.LastSync.Unix() > 0 {
					last = ago(f.LastSync, time.Now())
				}
				t.row(f.Name, f.Kind, f.Origin, last, strconv.Itoa(f.Records), strconv.Itoa(f.Changed), strconv.Itoa(f.Rejected),
					strconv.Itoa(f.Duplicates), f.Error)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if job != "" {
				var j api.FeedJob
				if err := c.Do(cmd.Context(), "GET", "/api/v1/feeds/jobs/"+url.PathEscape(job), nil, nil, &j); err != nil {
					return err
				}
				return printJobs(out, []api.FeedJob{j})
			}
			var jobs api.Page[api.FeedJob]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/feeds/jobs", url.Values{"limit": {"5"}}, nil, &jobs); err != nil {
				return err
			}
			if len(jobs.Items) == 0 {
				return nil
			}
			fmt.Fprintln(out)
			return printJobs(out, jobs.Items)
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "show one matching job (the ID an import printed)")
	return cmd
}

func printJobs(w io.Writer, jobs []api.FeedJob) error {
	t := newTable(w, "JOB", "FEED", "STATE", "CREATED", "TUPLES", "HOSTS", "OPENED", "RESOLVED", "REOPENED", "UPDATED", "RESCORED", "ERROR")
	for _, j := range jobs {
		t.row(j.ID, j.Feed, j.State, ago(j.CreatedAt, time.Now()), strconv.Itoa(j.Tuples), strconv.Itoa(j.Hosts), strconv.Itoa(j.Opened),
			strconv.Itoa(j.Resolved), strconv.Itoa(j.Reopened), strconv.Itoa(j.Updated), strconv.Itoa(j.Rescored), j.Error)
	}
	return t.flush()
}

func newFeedsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a feed: its advisories (or the KEV catalog, the EPSS scores) go, and hosts are matched again",
		Long: `Delete a feed by the name 'feeds status' shows. Its advisories leave the server, and the findings they
opened resolve ("advisory no longer affects"); deleting cisa-kev or first-epss rescores every open finding.
The deletion is audited. A configured feed source comes back at its next sync.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var res struct {
				Feed              string `json:"feed"`
				Kind              string `json:"kind"`
				AdvisoriesRemoved int    `json:"advisories_removed"`
				HostsReconciled   int    `json:"hosts_reconciled"`
				FindingsRescored  int    `json:"findings_rescored"`
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/feeds/"+url.PathEscape(args[0]), nil, nil, &res); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "feed %s deleted: %d advisories removed, %d hosts matched again, %d findings rescored\n",
				inert(res.Feed), res.AdvisoriesRemoved, res.HostsReconciled, res.FindingsRescored)
			return err
		},
	}
}
