package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/store"
)

// Config is the server's configuration after defaults and validation.
type Config struct {
	Listen          string        // host:port of the HTTPS listener
	DataDir         string        // CA, keys, admin token, SQLite database
	DatabaseURL     string        // "" means SQLite in DataDir
	TLSCert, TLSKey string        // a given server certificate instead of the self-issued one
	SANs            []string      // extra names for the self-issued server certificate
	CheckinInterval time.Duration // how often agents check in; stale after 3 intervals
	AgentCertTTL    time.Duration // lifetime of agent client certificates
	// FeedSources are fetched every FeedSyncInterval (0 disables the
	// schedule; `feeds sync` still runs on demand).
	FeedSources      []FeedSource
	FeedSyncInterval time.Duration
	// EngineInterval is how often running changes are stepped.
	EngineInterval time.Duration
	// LeaseTTL is how long a replica's lease on a singleton loop outlives
	// its last renewal (leader.go); zero: DefaultLeaseTTL.
	LeaseTTL time.Duration
	// WebhookURL receives every notification as signed JSON (HMAC-SHA256
	// with WebhookSecret in X-Patchbay-Signature; docs/notifications.md).
	WebhookURL    string
	WebhookSecret string
	// BackupDir, when set, receives a backup archive every BackupInterval;
	// the newest BackupKeep are kept (backup.go).
	BackupDir      string
	BackupInterval time.Duration
	BackupKeep     int
	// SlackWebhookURL is a Slack-compatible incoming webhook (Block Kit).
	SlackWebhookURL string
	// NotifyAllow are the internal address ranges notifications may reach
	// (all others but public unicast addresses are refused).
	NotifyAllow []netip.Prefix
	// NotifyRoots replaces the system's CA certificates for notification
	// receivers (tests); nil: the system's.
	NotifyRoots *x509.CertPool
	// NotifyRetry spaces delivery attempts; zero: notify.DefaultRetry.
	NotifyRetry notify.Retry
	// ConsoleURL is the console's address in messages; "": https://Listen.
	ConsoleURL string
	// Email configures the email channel (notify_email.go).
	Email EmailChannel
	// SIEMSyslog, tls://HOST:PORT, receives the audit trail as RFC 5424
	// over TLS (siem.go); SIEMRoots verifies it (nil: the system's CAs).
	SIEMSyslog string
	SIEMRoots  *x509.CertPool
	// Jira configures the jira channel (notify_jira.go).
	Jira JiraChannel
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8443",
		DataDir:          "./patchbay-data",
		CheckinInterval:  60 * time.Second,
		AgentCertTTL:     7 * 24 * time.Hour,
		FeedSources:      DefaultFeedSources(),
		FeedSyncInterval: 6 * time.Hour,
		EngineInterval:   2 * time.Second,
		BackupInterval:   24 * time.Hour,
		BackupKeep:       7,
		LeaseTTL:         DefaultLeaseTTL,
	}
}

// Validate checks the configuration, naming the field that is wrong.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if c.CheckinInterval < time.Second {
		return fmt.Errorf("--checkin-interval %s is below 1s", c.CheckinInterval)
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < 3*time.Second {
		return fmt.Errorf("--lease-ttl %s is below 3s", c.LeaseTTL)
	}
	if c.AgentCertTTL < time.Minute {
		return fmt.Errorf("--agent-cert-ttl %s is below 1m", c.AgentCertTTL)
	}
	if c.BackupDir != "" {
		if c.BackupInterval < time.Minute {
			return fmt.Errorf("--backup-interval %s is below 1m", c.BackupInterval)
		}
		if c.BackupKeep < 1 {
			return fmt.Errorf("--backup-keep %d: keep at least 1 backup", c.BackupKeep)
		}
		if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
			return errors.New("--backup-dir backs up the SQLite database; on PostgreSQL use pg_dump and `patchbay backup --keys-only` (docs/operations.md)")
		}
	}
	for flag, u := range map[string]string{"--webhook": c.WebhookURL, "--slack-webhook": c.SlackWebhookURL} {
		if u == "" {
			continue
		}
		if _, err := (delivery.Guard{Allow: c.NotifyAllow}).CheckURL(u); err != nil {
			return fmt.Errorf("%s: %w (an internal receiver needs --notify-allow with its address)", flag, err)
		}
	}
	if c.SIEMSyslog != "" {
		if _, err := checkSIEM(c.SIEMSyslog, delivery.Guard{Allow: c.NotifyAllow}); err != nil {
			return err
		}
	}
	if err := c.Jira.check(c); err != nil {
		return err
	}
	if err := c.Email.check(c); err != nil {
		return err
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		return errors.New("--webhook needs --webhook-secret (or PATCHBAY_WEBHOOK_SECRET): receivers verify the signature with it")
	}
	return nil
}

// Server is the control plane.
type Server struct {
	cfg     Config
	store   *store.DB
	log     *slog.Logger
	now     func() time.Time
	ca      *pki.CA
	jobKey  ed25519.PrivateKey
	tlsCert tls.Certificate
	routes  []route
	metrics *serverMetrics
	vulns   *vulns
	org     orgState
	audit   *auditor
	kpis    dashboardCache // the console dashboard's figures, shared for a minute: console_admin.go
	reports reportCache    // the console's report input and reports, shared for a minute: console_admin.go

	signins  *signinLimiter // one set of sign-in limits for the API and the console: signin.go
	refusals *refusalLog    // bounded audit entries of refused requests: refusals.go
	ready    readyState     // the last successful readiness write: readiness.go
	notify   notifier       // outbox messages and their delivery: notify.go
	holder   string         // this process in the leases it holds: leader.go
	binaries releaseCache   // agent release binaries agents are fetching: releases.go

	feedClient     *http.Client  // nil: a default client; tests point it at a loopback TLS server
	feedRetryDelay time.Duration // base delay between feed download attempts

	// Background work (loops, refreshes, webhook posts) is owned by the
	// server: it runs under bgCtx, which ends with Start's context, and Wait
	// waits for all of it, so the database is closed only after the last
	// background write.
	bg    sync.WaitGroup
	bgMu  sync.Mutex
	bgCtx context.Context
}

// Identity is what the bootstrap of the data directory produced.
type Identity struct {
	CA      *pki.CA
	JobKey  ed25519.PrivateKey
	TLSCert tls.Certificate
}

// New builds a server over an open store and a bootstrapped identity.
func New(cfg Config, st *store.DB, id Identity, logger *slog.Logger, now func() time.Time) *Server {
	s := &Server{cfg: cfg, store: st, log: logger, now: now, ca: id.CA, jobKey: id.JobKey, tlsCert: id.TLSCert}
	s.metrics = newServerMetrics(s)
	s.vulns = newVulns(s)
	s.audit = newAuditor(s)
	s.signins = newSigninLimiter()
	s.refusals = newRefusalLog(s)
	s.org.set(0, &policy.Org{}, "")
	s.feedRetryDelay = time.Second
	s.holder = newHolderID()
	s.routes = s.routeTable()
	s.bgCtx = context.Background()
	s.notify.wake = make(chan struct{}, 1)
	if sealer, err := delivery.NewSealer(id.JobKey.Seed()); err == nil {
		s.notify.sealer = sealer
	}
	st.SetOutboxHook(s.wakeNotify)
	return s
}

// spawn runs f in the background under the server's background context,
// and Wait waits for it.
func (s *Server) spawn(f func(ctx context.Context)) {
	s.bgMu.Lock()
	ctx := s.bgCtx
	s.bgMu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(ctx)
	}()
}

// Wait returns when every background loop and task the server started has
// ended. The loops end when the context given to Start (or Serve) ends;
// call Wait after that and before closing the store.
func (s *Server) Wait() { s.bg.Wait() }

// TLSConfig is the listener's TLS configuration: client certificates are
// verified against the CA when given, and required by the agent routes.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.tlsCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.ca.Pool(),
	}
}

// Serve runs the HTTPS server on ln until ctx ends, then shuts down in
// order: stop accepting connections, let the requests in flight finish
// (ShutdownTimeout at most, then their connections are closed and their
// handlers still waited for), then wait for every background loop and
// task. When Serve returns nothing of the server touches the store any
// more, so the caller may close it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var inflight sync.WaitGroup
	h := s.Handler()
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			h.ServeHTTP(w, r)
		}),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// TLS handshake failures (a certificate from another CA, an expired
		// one) end up here: log them as refusals.
		ErrorLog: log.New(slogWriter{s.log}, "", 0),
	}
	// The loops run under a context this function also ends, so a listener
	// that fails stops them too before Serve returns.
	parent := ctx
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := s.Start(ctx); err != nil {
		stop()
		s.Wait()
		if parent.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	select {
	case err := <-errc:
		stop()
		inflight.Wait()
		s.Wait()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new connections; waiting for requests in flight and background work")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	if err != nil {
		s.log.Warn("requests still running after the shutdown timeout; closing their connections", "timeout", ShutdownTimeout)
		hs.Close() // cancels the handlers' contexts
		err = nil
	}
	<-errc
	inflight.Wait() // a handler outliving its connection still holds the store
	s.Wait()        // the loops saw ctx end; let them finish before the caller closes the store
	return err
}

// ShutdownTimeout bounds how long Serve waits for requests in flight once
// its context ends before it closes their connections.
const ShutdownTimeout = 10 * time.Second

// Start loads the advisory index and starts the background loops (findings
// reconciliation, feed sync) until ctx ends. Serve calls it; tests that
// mount Handler on their own listener call it themselves.
func (s *Server) Start(ctx context.Context) error {
	if err := s.startAudit(ctx); err != nil {
		return fmt.Errorf("audit checkpoint file: %w", err)
	}
	if err := s.loadOrg(ctx); err != nil {
		return fmt.Errorf("load organisation: %w", err)
	}
	s.bgMu.Lock()
	s.bgCtx = ctx
	s.bgMu.Unlock()
	if err := s.startNotify(ctx); err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	if err := s.vulns.load(ctx); err != nil {
		return fmt.Errorf("load advisories: %w", err)
	}
	s.spawn(s.exceptionLoop)
	s.spawn(s.enforcementLoop)
	if s.cfg.EngineInterval > 0 {
		s.spawn(s.engineLoop)
	}
	s.spawn(s.vulns.run)
	s.spawn(s.vulns.runJobs)
	s.spawn(s.syncLoop)
	s.spawn(s.dashboardLoop)
	s.spawn(s.refusals.run)
	if s.storeIsShared() {
		s.spawn(s.vulns.follow) // other replicas' imports
	}
	if s.cfg.BackupDir != "" {
		s.spawn(s.backupLoop)
	}
	if s.cfg.SIEMSyslog != "" {
		s.spawn(s.siemLoop)
	}
	return s.vulns.reconcileAll(ctx)
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		w.log.Warn("connection refused", "reason", msg)
	} else {
		w.log.Info("http", "msg", msg)
	}
	return len(p), nil
}
