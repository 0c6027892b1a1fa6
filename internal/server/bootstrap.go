package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/durable"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/store"
)

// Bootstrap prepares the data directory on every start: the CA, the server
// certificate (reissued when missing, near expiry or missing a name), and
// the job-signing key. It creates what is missing and never replaces a key
// that exists.
//
// It refuses a data directory that is not the server user's own or that
// group or others can write, and key and certificate files in it that are
// symbolic links, owned by another user or open to others (see
// checkDataDir): those could have been planted.
func Bootstrap(cfg Config, now time.Time) (Identity, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("create data dir: %w", err)
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return Identity{}, err
	}
	ca, _, err := pki.LoadOrCreateCA(cfg.DataDir, now)
	if err != nil {
		return Identity{}, err
	}
	jobKey, err := loadOrCreateJobKey(filepath.Join(cfg.DataDir, "job.key"))
	if err != nil {
		return Identity{}, err
	}
	var cert tls.Certificate
	if cfg.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return Identity{}, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
	} else {
		cert, err = loadOrIssueServerCert(cfg, ca, now)
		if err != nil {
			return Identity{}, err
		}
	}
	return Identity{CA: ca, JobKey: jobKey, TLSCert: cert}, nil
}

func serverNames(cfg Config) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		names = append(names, host)
	}
	names = append(names, cfg.SANs...)
	slices.Sort(names)
	return slices.Compact(names)
}

func loadOrIssueServerCert(cfg Config, ca *pki.CA, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(cfg.DataDir, "server.crt"), filepath.Join(cfg.DataDir, "server.key")
	names := serverNames(cfg)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf, perr := x509.ParseCertificate(c.Certificate[0])
		if perr == nil && now.Add(30*24*time.Hour).Before(leaf.NotAfter) && leaf.CheckSignatureFrom(ca.Cert) == nil && coversNames(leaf, names) {
			c.Certificate = append(c.Certificate, ca.Cert.Raw)
			return c, nil
		}
	}
	certPEM, keyPEM, err := ca.IssueServer(names, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := durable.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write server key: %w", err)
	}
	if err := durable.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write server certificate: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Send the CA with the leaf so a new agent can pin it by fingerprint.
	c.Certificate = append(c.Certificate, ca.Cert.Raw)
	return c, nil
}

func coversNames(leaf *x509.Certificate, names []string) bool {
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func loadOrCreateJobKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an ed25519 key", path)
		}
		return ek, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read job key: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := durable.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("write job key: %w", err)
	}
	return key, nil
}

// JobPublicKey is the base64 public half of the job-signing key.
func (s *Server) JobPublicKey() string {
	return base64.StdEncoding.EncodeToString(s.jobKey.Public().(ed25519.PublicKey))
}

// FirstStart is what EnsureAdmin created, for the start-up message.
type FirstStart struct {
	Created      bool
	TokenPath    string
	PasswordPath string
}

// EnsureAdmin creates the admin user and an admin API token when the store
// has no users yet. The token and password are written to files readable
// only by the server's user; the store keeps only their hashes.
func (s *Server) EnsureAdmin(ctx context.Context) (FirstStart, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return FirstStart{}, err
	}
	fs := FirstStart{
		TokenPath:    filepath.Join(s.cfg.DataDir, "admin.token"),
		PasswordPath: filepath.Join(s.cfg.DataDir, "admin.password"),
	}
	if len(users) > 0 {
		return fs, nil
	}
	now := s.now()
	password := randomSecret("", 18)
	hash, err := HashPassword(password)
	if err != nil {
		return fs, err
	}
	u, err := s.store.CreateUser(ctx, store.User{ID: uuid.NewString(), Username: "admin", PasswordHash: hash, Role: RoleAdmin, CreatedAt: now})
	if err != nil {
		return fs, fmt.Errorf("create admin user: %w", err)
	}
	secret, tok := newAPIToken("admin (first start)", RoleAdmin, u.ID, nil, now)
	if err := s.store.CreateAPIToken(ctx, tok); err != nil {
		return fs, fmt.Errorf("create admin token: %w", err)
	}
	if err := durable.WriteFile(fs.TokenPath, []byte(secret+"\n"), 0o600); err != nil {
		return fs, fmt.Errorf("write admin token: %w", err)
	}
	if err := durable.WriteFile(fs.PasswordPath, []byte(password+"\n"), 0o600); err != nil {
		return fs, fmt.Errorf("write admin password: %w", err)
	}
	fs.Created = true
	return fs, nil
}

// randomSecret returns prefix + n random bytes, base64url without padding.
func randomSecret(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func newAPIToken(name, role, userID string, expires *time.Time, now time.Time) (string, store.APIToken) {
	secret := randomSecret("pbt_", 32)
	return secret, store.APIToken{
		ID: uuid.NewString(), Name: name, Hash: HashSecret(secret), Prefix: secret[:12],
		Role: role, UserID: userID, CreatedAt: now, ExpiresAt: expires,
	}
}
