package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/protocol"
)

// Collector reads the host's facts and packages.
type Collector interface {
	Collect(ctx context.Context) (inventory.Snapshot, error)
}

// UpdateLister lists the updates the host's repositories offer.
type UpdateLister interface {
	AvailableUpdates(ctx context.Context, format inventory.Format) ([]protocol.Update, error)
}

// Config is what an agent needs.
type Config struct {
	Server      string // https://host:port
	EnrollToken string // needed only until the host is enrolled
	// Labels are sent at enrollment; the token's labels win on conflict.
	Labels    map[string]string
	CAFile    string // optional: trust this CA instead of the token's fingerprint
	State     StateStore
	Collector Collector
	Updates   UpdateLister // optional
	Logger    *slog.Logger
	Now       func() time.Time
	// Interval overrides the server's check-in interval when set.
	Interval time.Duration
	// Transport, when set, is cloned for every client: simulated fleets
	// share connection limits through it.
	Transport *http.Transport
	// Jobs: without an Executor, a Journal and a Seq store the agent runs
	// no jobs (inventory only).
	Executor JobExecutor
	Journal  JobJournal
	Seq      SeqStore
	// Results, when set, remembers finished jobs' results so that a job
	// offered again (by a server restored from a backup) is answered with
	// its earlier result, or reported as never run, instead of ignored.
	Results ResultLog
	Hooks   Hooks // commands jobs may name, from the host's own configuration
	// RestartCommand is the argv that restarts services; a restart_services
	// job runs it with "--" and the units the agent's own detection found
	// appended. Nil means DefaultRestartCommand.
	RestartCommand []string
	// Observe, when set, is told how long each request to the server after
	// enrollment took (until the response headers) and its path, so a
	// simulated fleet can measure check-ins and job reports separately.
	Observe func(path string, took time.Duration, err error)
	// OnEnrolled, when set, is called once the host's new identity is
	// saved: the agent's configuration file drops its enrollment token then.
	OnEnrolled func(hostID string)
	// OnCheckedIn, when set, is called after each check-in the server
	// acknowledged: a self-updated binary confirms its trial then.
	OnCheckedIn func()
	// AgentVersion and AgentPlatform (GOOS/GOARCH) are reported in every
	// check-in's facts; the server plans agent updates from them.
	AgentVersion, AgentPlatform string
	// SelfUpdate, when set, carries out agent_update jobs; without it they
	// fail with the reason.
	SelfUpdate SelfUpdater
}

// Agent runs the enrollment and check-in protocol for one host.
type Agent struct {
	cfg    Config
	st     *State
	client *http.Client
}

// ErrRevoked means the server refused this host for good.
var ErrRevoked = errors.New("this host has been revoked by the server; enroll again with a new token and a fresh --state-dir")

// New loads the agent's state.
func New(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: give the server's https:// URL", cfg.Server)
	}
	st, err := cfg.State.Load()
	if err != nil {
		return nil, err
	}
	if st.Enrolled() && st.Server != "" && st.Server != cfg.Server {
		cfg.Logger.Warn("state was enrolled with another server URL; using the pinned CA for the new one", "was", st.Server, "now", cfg.Server)
	}
	return &Agent{cfg: cfg, st: st}, nil
}

// HostID is the host's identity, empty before enrollment.
func (a *Agent) HostID() string { return a.st.HostID }

// Enroll enrolls the host unless it already is.
func (a *Agent) Enroll(ctx context.Context, hostname string) error {
	if a.st.Enrolled() {
		return nil
	}
	if a.cfg.EnrollToken == "" {
		return errors.New("this host is not enrolled yet: pass --enroll-token (create one with `patchbay enroll-token create`)")
	}
	_, fp, err := protocol.ParseEnrollToken(a.cfg.EnrollToken)
	if err != nil {
		return err
	}
	tlsCfg, err := a.enrollTLS(fp)
	if err != nil {
		return err
	}
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := pki.NewCSR(key, hostname)
	if err != nil {
		return err
	}
	var resp protocol.EnrollResponse
	client := &http.Client{Transport: a.transport(tlsCfg), Timeout: 60 * time.Second}
	if err := postJSON(ctx, client, a.cfg.Server+protocol.PathEnroll, protocol.EnrollRequest{
		ProtocolVersion: protocol.Version, Token: a.cfg.EnrollToken, CSR: string(csr), Hostname: hostname, Labels: a.cfg.Labels,
	}, &resp); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	cert, err := pki.ParseCertificatePEM([]byte(resp.Certificate))
	if err != nil {
		return fmt.Errorf("enroll: server sent a bad certificate: %w", err)
	}
	if cert.Subject.CommonName != resp.HostID {
		return errors.New("enroll: certificate does not name the host ID the server gave")
	}
	caCert, err := pki.ParseCertificatePEM([]byte(resp.CA))
	if err != nil || (a.cfg.CAFile == "" && pki.Fingerprint(caCert) != fp) {
		return errors.New("enroll: the CA the server sent is not the one the token names")
	}
	a.st = &State{HostID: resp.HostID, Server: a.cfg.Server, JobKey: resp.JobKey, CheckinInterval: resp.CheckinInterval,
		Key: key, CertPEM: []byte(resp.Certificate), CAPEM: []byte(resp.CA)}
	if err := a.cfg.State.Save(a.st); err != nil {
		return fmt.Errorf("enrolled as %s but could not save state: %w", resp.HostID, err)
	}
	a.client = nil
	a.cfg.Logger.Info("enrolled", "host", resp.HostID)
	if a.cfg.OnEnrolled != nil {
		a.cfg.OnEnrolled(resp.HostID)
	}
	return nil
}

// enrollTLS trusts the server whose chain contains the CA the token names,
// or the CA file when one is given.
func (a *Agent) enrollTLS(fingerprint string) (*tls.Config, error) {
	if a.cfg.CAFile != "" {
		b, err := os.ReadFile(a.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate", a.cfg.CAFile)
		}
		return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
	}
	host := hostOf(a.cfg.Server)
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pinned verification below
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if pki.Fingerprint(c) == fingerprint {
					ca = c
				}
			}
			if ca == nil || len(cs.PeerCertificates) == 0 {
				return errors.New("server certificate is not issued by the CA named in the enrollment token")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
			return err
		},
	}, nil
}

func hostOf(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func (a *Agent) transport(tlsCfg *tls.Config) *http.Transport {
	var t *http.Transport
	if a.cfg.Transport != nil {
		t = a.cfg.Transport.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.TLSClientConfig = tlsCfg
	t.ForceAttemptHTTP2 = true
	return t
}

// mtlsClient is the client for every request after enrollment.
func (a *Agent) mtlsClient() (*http.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	pool, err := a.st.CAPool()
	if err != nil {
		return nil, err
	}
	t := a.transport(&tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := a.st.TLSCertificate()
			return &c, err
		},
	})
	a.client = &http.Client{Transport: t, Timeout: 2 * time.Minute}
	if a.cfg.Observe != nil {
		a.client.Transport = observed{t, a.cfg.Observe}
	}
	return a.client, nil
}

// observed times each round trip for Config.Observe.
type observed struct {
	next    http.RoundTripper
	observe func(string, time.Duration, error)
}

func (o observed) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := o.next.RoundTrip(r)
	seen := err
	if err == nil && resp.StatusCode >= 500 {
		seen = fmt.Errorf("status %d", resp.StatusCode)
	}
	o.observe(r.URL.Path, time.Since(t0), seen)
	return resp, err
}

// CheckinOnce collects and reports once. After a NeedFull answer it sends
// the full report at once.
func (a *Agent) CheckinOnce(ctx context.Context) (protocol.CheckinResponse, error) {
	if err := a.resumeJob(ctx); err != nil {
		a.cfg.Logger.Warn("could not finish the interrupted job; will retry", "err", err)
	}
	resp, err := a.checkin(ctx)
	if err != nil {
		return resp, err
	}
	if a.cfg.OnCheckedIn != nil {
		a.cfg.OnCheckedIn()
	}
	if err := a.finishSwapped(ctx); err != nil {
		// Its journal entry stays until it is reported: no other job runs.
		return resp, fmt.Errorf("report the self-update: %w", err)
	}
	ran, err := a.runJobs(ctx, resp.Jobs)
	if err != nil {
		return resp, err
	}
	if ran {
		// Report the changed inventory at once: it verifies the job.
		return a.checkin(ctx)
	}
	return resp, nil
}

func (a *Agent) checkin(ctx context.Context) (protocol.CheckinResponse, error) {
	snap, err := a.cfg.Collector.Collect(ctx)
	if err != nil {
		return protocol.CheckinResponse{}, fmt.Errorf("collect inventory: %w", err)
	}
	for _, p := range snap.Problems {
		a.cfg.Logger.Warn("inventory problem", "problem", p)
	}
	var updates []protocol.Update
	if a.cfg.Updates != nil {
		updates, err = a.cfg.Updates.AvailableUpdates(ctx, snap.Facts.PackageFormat)
		if err != nil {
			a.cfg.Logger.Warn("could not list available updates", "err", err)
			updates = nil
		}
	}
	resp, err := a.report(ctx, snap, updates, false)
	if err == nil && resp.NeedFull {
		a.cfg.Logger.Info("server asked for a full inventory")
		resp, err = a.report(ctx, snap, updates, true)
	}
	if err != nil {
		return resp, err
	}
	if err := a.maybeRenew(ctx, resp.RenewBefore); err != nil {
		a.cfg.Logger.Warn("certificate renewal failed; will retry", "err", err)
	}
	return resp, nil
}

func (a *Agent) report(ctx context.Context, snap inventory.Snapshot, updates []protocol.Update, forceFull bool) (protocol.CheckinResponse, error) {
	snap.Facts.AgentVersion, snap.Facts.AgentPlatform = a.cfg.AgentVersion, a.cfg.AgentPlatform
	req := protocol.CheckinRequest{ProtocolVersion: protocol.Version, Facts: snap.Facts, Problems: snap.Problems}
	full := forceFull || a.st.Packages == nil || a.st.Revision == 0
	if full {
		req.Full = true
		req.Packages = snap.Packages
	} else {
		req.BaseRevision = a.st.Revision
		req.Upserts, req.Removes = Diff(a.st.Packages, snap.Packages)
	}
	uh := hashUpdates(updates)
	if full || uh != a.st.UpdatesHash {
		req.UpdatesChanged = true
		req.Updates = updates
	}
	client, err := a.mtlsClient()
	if err != nil {
		return protocol.CheckinResponse{}, err
	}
	var resp protocol.CheckinResponse
	if err := postJSON(ctx, client, a.cfg.Server+protocol.PathCheckin, req, &resp); err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Code == "revoked" {
			return resp, ErrRevoked
		}
		return resp, fmt.Errorf("check-in: %w", err)
	}
	if resp.NeedFull {
		return resp, nil
	}
	next := make(map[string]inventory.Package, len(snap.Packages))
	for _, p := range snap.Packages {
		next[p.Key()] = p
	}
	st := *a.st
	st.Revision, st.Packages, st.UpdatesHash = resp.Revision, next, uh
	if resp.CheckinInterval > 0 {
		st.CheckinInterval = resp.CheckinInterval
	}
	if err := a.cfg.State.Save(&st); err != nil {
		// The server has the report; without saved state the next run
		// sends a delta on an old base and is asked for a full report.
		return resp, fmt.Errorf("save agent state: %w", err)
	}
	a.st = &st
	return resp, nil
}

func (a *Agent) maybeRenew(ctx context.Context, renewBefore time.Time) error {
	if renewBefore.IsZero() || a.cfg.Now().Before(renewBefore) {
		return nil
	}
	csr, err := pki.NewCSR(a.st.Key, a.st.HostID)
	if err != nil {
		return err
	}
	client, err := a.mtlsClient()
	if err != nil {
		return err
	}
	var resp protocol.RenewResponse
	if err := postJSON(ctx, client, a.cfg.Server+protocol.PathRenew, protocol.RenewRequest{CSR: string(csr)}, &resp); err != nil {
		return err
	}
	cert, err := pki.ParseCertificatePEM([]byte(resp.Certificate))
	if err != nil || cert.Subject.CommonName != a.st.HostID {
		return errors.New("server sent a bad renewed certificate")
	}
	st := *a.st
	st.CertPEM = []byte(resp.Certificate)
	if err := a.cfg.State.Save(&st); err != nil {
		return err
	}
	a.st = &st
	a.cfg.Logger.Info("certificate renewed", "not_after", cert.NotAfter)
	return nil
}

// Run enrolls if needed, then checks in every interval (with ±10% jitter
// so a fleet does not arrive at once) until ctx ends. Transient errors are
// retried with backoff; a revoked host stops.
func (a *Agent) Run(ctx context.Context, hostname string) error {
	backoff := 5 * time.Second
	for {
		err := a.Enroll(ctx, hostname)
		if err == nil {
			break
		}
		var he *HTTPError
		if errors.As(err, &he) && he.Status < 500 {
			return err // a refused token does not get better by retrying
		}
		a.cfg.Logger.Warn("enrollment failed; retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Minute)
	}
	backoff = 5 * time.Second
	for {
		_, err := a.CheckinOnce(ctx)
		wait := a.interval()
		switch {
		case errors.Is(err, ErrRevoked):
			return err
		case err != nil && ctx.Err() == nil:
			a.cfg.Logger.Warn("check-in failed; retrying", "err", err, "in", backoff)
			wait = backoff
			backoff = min(backoff*2, a.interval())
		default:
			backoff = 5 * time.Second
		}
		if !sleep(ctx, jitter(wait)) {
			return nil
		}
	}
}

func (a *Agent) interval() time.Duration {
	if a.cfg.Interval > 0 {
		return a.cfg.Interval
	}
	if a.st.CheckinInterval > 0 {
		return time.Duration(a.st.CheckinInterval) * time.Second
	}
	return 60 * time.Second
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Diff returns what changed from the acknowledged package set to the
// current one: packages added or changed, and keys of packages removed.
func Diff(prev map[string]inventory.Package, cur []inventory.Package) (upserts []inventory.Package, removes []string) {
	seen := make(map[string]bool, len(cur))
	for _, p := range cur {
		k := p.Key()
		seen[k] = true
		if old, ok := prev[k]; !ok || old != p {
			upserts = append(upserts, p)
		}
	}
	for k := range prev {
		if !seen[k] {
			removes = append(removes, k)
		}
	}
	slices.Sort(removes)
	return upserts, removes
}

func hashUpdates(us []protocol.Update) string {
	lines := make([]string, 0, len(us))
	for _, u := range us {
		lines = append(lines, u.Name+"\x00"+u.Arch+"\x00"+u.Version+"\x00"+u.Repo)
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

// HTTPError is an error answer from the server.
type HTTPError struct {
	Status  int
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("server refused (%d %s): %s", e.Status, e.Code, e.Message)
}

func postJSON(ctx context.Context, c *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return &HTTPError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	return json.Unmarshal(data, out)
}
