package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/patchbay/patchbay/internal/api"
)

// Client talks to one server with one token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client. caFile is the server's CA certificate; empty means
// the system roots (for servers with a certificate from a public CA).
func New(server, token, caFile string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: give the server's https:// URL", server)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", caFile)
		}
		tlsCfg.RootCAs = pool
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tlsCfg
	return &Client{base: u.String(), token: token, http: &http.Client{Transport: t, Timeout: 30 * time.Minute}}, nil
}

// Error is an error answer from the API.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code) }

// Do calls the API. in is sent as JSON, or as is when it is an io.Reader;
// out receives the JSON answer.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	raw := false
	if r, ok := in.(io.Reader); ok {
		body, raw = r, true
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	switch {
	case raw:
		req.Header.Set("Content-Type", "application/octet-stream")
	case in != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		var hostname x509.HostnameError
		switch {
		case errors.As(err, &unknownCA):
			return fmt.Errorf("%s: the server's certificate is signed by a CA this command does not trust; "+
				"pass the server's CA certificate with --ca DATA_DIR/ca.crt (or PATCHBAY_CA)", c.base)
		case errors.As(err, &hostname):
			return fmt.Errorf("%s: the server's certificate is not valid for this name (%v); use the name or address "+
				"the server's certificate was made for", c.base, hostname.Host)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e api.Error
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: http.StatusText(resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := w.Write(data)
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// ListHosts returns every host matching the filter, following pages.
func (c *Client) ListHosts(ctx context.Context, filter url.Values) ([]api.Host, error) {
	var all []api.Host
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	for {
		var page api.Page[api.Host]
		if err := c.Do(ctx, "GET", "/api/v1/hosts", q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextPageToken == "" {
			return all, nil
		}
		q.Set("page_token", page.NextPageToken)
	}
}

// FindHost resolves a host by ID or by exact hostname.
func (c *Client) FindHost(ctx context.Context, ref string) (api.Host, error) {
	var h api.Host
	err := c.Do(ctx, "GET", "/api/v1/hosts/"+url.PathEscape(ref), nil, nil, &h)
	if err == nil {
		return h, nil
	}
	if e, ok := err.(*Error); !ok || e.Status != http.StatusNotFound {
		return h, err
	}
	hosts, lerr := c.ListHosts(ctx, url.Values{"q": {ref}})
	if lerr != nil {
		return h, lerr
	}
	var match []api.Host
	for _, x := range hosts {
		if x.Hostname == ref {
			match = append(match, x)
		}
	}
	switch len(match) {
	case 0:
		return h, fmt.Errorf("no host with ID or hostname %q; see `patchbay hosts list`", ref)
	case 1:
		return match[0], nil
	}
	return h, fmt.Errorf("%d hosts are named %q; use the host ID", len(match), ref)
}
