package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/server"
	"github.com/patchbay/patchbay/internal/store"
	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	cfg := server.DefaultConfig()
	var configFile, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control server (HTTPS API, agent endpoint, scheduler)",
		Long: `Run the control server (HTTPS API, agent endpoint, scheduler).

Every flag can also be set in a YAML file given with --config (the packaged
unit uses ` + DefaultServerConfig + `): its keys are the flag names without
"--", lists for repeatable flags; flags on the command line win.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := applyServerConfig(cmd.Flags(), configFile); err != nil {
					return err
				}
			}
			log, err := newFormatLogger(os.Stderr, logFormat)
			if err != nil {
				return err
			}
			rs, err := startServer(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			rs.printBanner(cmd.OutOrStdout())
			return rs.wait()
		},
	}
	addServerFlags(cmd, &cfg)
	cmd.Flags().StringVar(&configFile, "config", "", "YAML file setting any of these flags (keys: flag names without --); flags given here win")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format on standard error: text, or json (one JSON object a line)")
	cmd.AddCommand(newServerUnitCmd(), newServerExampleConfigCmd())
	return cmd
}

func addServerFlags(cmd *cobra.Command, cfg *server.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve HTTPS on")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the CA, keys, admin token and the SQLite database")
	f.StringVar(&cfg.DatabaseURL, "database", cfg.DatabaseURL, "database URL: postgres://... for PostgreSQL (default: SQLite in the data dir)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve this certificate instead of one issued by the Patchbay CA")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "private key of --tls-cert")
	f.StringSliceVar(&cfg.SANs, "tls-san", nil, "extra DNS names or IPs for the self-issued server certificate")
	f.DurationVar(&cfg.CheckinInterval, "checkin-interval", cfg.CheckinInterval, "agent check-in interval; hosts silent for 3 intervals are stale")
	f.DurationVar(&cfg.AgentCertTTL, "agent-cert-ttl", cfg.AgentCertTTL, "lifetime of agent client certificates (renewed at half-life)")
	f.Var(&feedSources{cfg: cfg}, "feed-source", "NAME=URL of a feed to sync (repeatable; replaces the official defaults; \"none\" for no sources)")
	f.StringVar(&cfg.WebhookURL, "webhook", "", "URL that receives notifications as signed JSON, channel \"webhook\" (docs/notifications.md)")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", os.Getenv("PATCHBAY_WEBHOOK_SECRET"), "HMAC-SHA256 key for X-Patchbay-Signature (env PATCHBAY_WEBHOOK_SECRET)")
	f.StringVar(&cfg.SlackWebhookURL, "slack-webhook", os.Getenv("PATCHBAY_SLACK_WEBHOOK"), "Slack-compatible incoming webhook URL, channel \"slack\" (env PATCHBAY_SLACK_WEBHOOK)")
	f.StringVar(&cfg.Email.URL, "smtp", "", "SMTP server for the email channel: smtp://HOST:587 (STARTTLS, required) or smtps://HOST:465 (TLS), channel \"email\"")
	f.StringVar(&cfg.Email.Username, "smtp-user", "", "SMTP account (AUTH); its password comes from PATCHBAY_SMTP_PASSWORD or --smtp-password-file")
	cfg.Email.Password = os.Getenv("PATCHBAY_SMTP_PASSWORD")
	f.Var(&secretFile{&cfg.Email.Password}, "smtp-password-file", "file holding the SMTP password (default: env PATCHBAY_SMTP_PASSWORD)")
	f.StringVar(&cfg.Email.From, "smtp-from", "", "sender address of notification e-mails (patchbay@example.com)")
	f.Var(&prefixList{&cfg.NotifyAllow}, "notify-allow", "internal address range notifications may reach, as CIDR or IP (repeatable; default: public addresses only)")
	f.StringVar(&cfg.ConsoleURL, "console-url", "", "the console's address in notification links (default: https://LISTEN)")
	f.Var(&caFile{&cfg.NotifyRoots}, "notify-ca", "PEM file of the CA certificates notification receivers are verified with (default: the system's)")
	f.StringVar(&cfg.Jira.URL, "jira-url", "", "Jira site (Cloud or Data Center) that gets one issue per change request, channel \"jira\"")
	f.StringVar(&cfg.Jira.User, "jira-user", "", "Jira Cloud account e-mail for Basic auth with the API token in PATCHBAY_JIRA_TOKEN (omit: the token is a Bearer personal access token)")
	cfg.Jira.Token = os.Getenv("PATCHBAY_JIRA_TOKEN")
	f.StringVar(&cfg.Jira.Project, "jira-project", "", "key of the Jira project issues are created in (OPS)")
	f.StringVar(&cfg.Jira.IssueType, "jira-issue-type", "Task", "issue type of the issues created")
	f.StringToStringVar(&cfg.Jira.Transitions, "jira-transition", nil, "STATE=TRANSITION: move the issue through the workflow transition of that name when the change enters STATE (repeatable; approved=\"Start Progress\",completed=Done)")
	f.StringVar(&cfg.SIEMSyslog, "siem-syslog", "", "stream the audit trail as RFC 5424 syslog over TLS to tls://HOST:PORT (docs/notifications.md)")
	f.Var(&caFile{&cfg.SIEMRoots}, "siem-ca", "PEM file of the CA certificates the --siem-syslog receiver is verified with (default: the system's)")
	f.DurationVar(&cfg.EngineInterval, "engine-interval", cfg.EngineInterval, "how often running changes are stepped")
	f.DurationVar(&cfg.FeedSyncInterval, "feed-sync-interval", cfg.FeedSyncInterval, "how often to sync feed sources (0: only on `feeds sync`)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long a replica's lease on feed sync or exception expiry outlives it when it dies (several replicas: docs/replicas.md)")
	f.StringVar(&cfg.BackupDir, "backup-dir", "", "directory for scheduled backups (SQLite only; see `patchbay backup`)")
	f.DurationVar(&cfg.BackupInterval, "backup-interval", cfg.BackupInterval, "how often to write a scheduled backup into --backup-dir")
	f.IntVar(&cfg.BackupKeep, "backup-keep", cfg.BackupKeep, "how many scheduled backups to keep in --backup-dir (older ones are removed)")
}

// feedSources is the --feed-source flag: the first use replaces the
// defaults.
type feedSources struct {
	cfg *server.Config
	set bool
}

func (f *feedSources) String() string {
	if f.cfg == nil {
		return ""
	}
	var parts []string
	for _, s := range f.cfg.FeedSources {
		parts = append(parts, s.Name+"="+s.URL)
	}
	return strings.Join(parts, ",")
}

func (f *feedSources) Type() string { return "NAME=URL" }

func (f *feedSources) Set(v string) error {
	if !f.set {
		f.cfg.FeedSources, f.set = nil, true
	}
	if v == "none" {
		return nil
	}
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return fmt.Errorf("want NAME=https://..., got %q", v)
	}
	f.cfg.FeedSources = append(f.cfg.FeedSources, server.FeedSource{Name: name, URL: u})
	return nil
}

func newLogger(w io.Writer) *slog.Logger {
	log, _ := newFormatLogger(w, "text")
	return log
}

// newFormatLogger logs to w as text (key=value) or as JSON lines, one
// object a line, for journald and log shippers. PATCHBAY_DEBUG adds debug
// messages.
func newFormatLogger(w io.Writer, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if os.Getenv("PATCHBAY_DEBUG") != "" {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// runningServer is a started server and what its banner shows.
type runningServer struct {
	srv   *server.Server
	url   string
	cfg   server.Config
	first server.FirstStart
	fp    string
	errc  chan error
	db    *store.DB
}

func startServer(ctx context.Context, cfg server.Config, log *slog.Logger) (*runningServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	id, err := server.Bootstrap(cfg, now)
	if err != nil {
		return nil, err
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(cfg.DataDir, "patchbay.db")
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	for _, f := range db.FixedFileModes() {
		log.Warn("database file was open to other users; made it readable by the server's user only", "change", f)
	}
	srv := server.New(cfg, db, id, log, time.Now)
	first, err := srv.EnsureAdmin(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen on %s: %w (is another server running? use --listen)", cfg.Listen, err)
	}
	rs := &runningServer{srv: srv, url: "https://" + ln.Addr().String(), cfg: cfg, first: first,
		fp: id.CA.Fingerprint(), errc: make(chan error, 1), db: db}
	go func() {
		err := srv.Serve(ctx, ln)
		if cerr := db.Close(); cerr != nil {
			log.Error("close database", "err", cerr)
		}
		log.Info("server stopped", "database", "closed")
		rs.errc <- err
	}()
	log.Info("server started", "url", rs.url, "database", db.Dialect())
	return rs, nil
}

func (rs *runningServer) wait() error { return <-rs.errc }

func (rs *runningServer) printBanner(w io.Writer) {
	fmt.Fprintf(w, "Patchbay server on %s\n", rs.url)
	fmt.Fprintf(w, "  CA certificate:  %s\n", filepath.Join(rs.cfg.DataDir, "ca.crt"))
	fmt.Fprintf(w, "  CA fingerprint:  SHA256 %s\n", rs.fp)
	if rs.first.Created {
		fmt.Fprintf(w, "  First start: created user \"admin\" (password in %s)\n", rs.first.PasswordPath)
	}
	fmt.Fprintf(w, "  Admin API token: %s\n", rs.first.TokenPath)
	fmt.Fprintf(w, "Use the CLI from another shell:\n")
	fmt.Fprintf(w, "  export PATCHBAY_SERVER=%s PATCHBAY_CA=%s PATCHBAY_TOKEN=$(cat %s)\n", rs.url, filepath.Join(rs.cfg.DataDir, "ca.crt"), rs.first.TokenPath)
	fmt.Fprintf(w, "  patchbay hosts list\n")
	fmt.Fprintf(w, "Enroll a host: patchbay enroll-token create, then on the host:\n")
	fmt.Fprintf(w, "  patchbay agent --server %s --enroll-token TOKEN\n", rs.url)
}

// prefixList is the --notify-allow flag: CIDR prefixes, a bare IP as a
// single address.
type prefixList struct{ p *[]netip.Prefix }

func (l *prefixList) String() string {
	if l.p == nil {
		return ""
	}
	var parts []string
	for _, p := range *l.p {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Type() string { return "CIDR" }

func (l *prefixList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("want a CIDR prefix (10.0.0.0/8) or an IP address, got %q", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		*l.p = append(*l.p, p.Masked())
	}
	return nil
}

// secretFile is a flag naming a file whose content (without the final
// newline) is a secret: a password on the command line shows in ps.
type secretFile struct{ secret *string }

func (s *secretFile) String() string { return "" }

func (s *secretFile) Type() string { return "FILE" }

func (s *secretFile) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	*s.secret = strings.TrimRight(string(b), "\r\n")
	return nil
}

// caFile is the --notify-ca flag: a PEM file read into a certificate pool.
type caFile struct{ pool **x509.CertPool }

func (c *caFile) String() string { return "" }

func (c *caFile) Type() string { return "FILE" }

func (c *caFile) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	*c.pool = pool
	return nil
}
