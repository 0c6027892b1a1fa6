package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/pki"
)

// These tests run the real binary: the server and each agent are separate
// processes talking over loopback mutual TLS.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchbay-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "patchbay")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build patchbay:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serverProc is a running `patchbay server` process.
type serverProc struct {
	url     string
	dataDir string
	stderr  *syncBuffer
	pid     int // of the process startServerProc started
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var bannerURL = regexp.MustCompile(`Patchbay server on (https://\S+)`)

// startServerProc starts `patchbay <verb>` (server or up) and waits for its
// banner.
func startServerProc(t *testing.T, verb string, args ...string) *serverProc {
	t.Helper()
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, append([]string{verb, "--listen", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sp := &serverProc{dataDir: dataDir, stderr: &syncBuffer{}}
	cmd.Stderr = sp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sp.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", verb, sp.stderr.String())
		}
	})
	sp.url = waitBanner(t, verb, stdout, sp.stderr)
	return sp
}

// waitBanner reads a starting server's stdout up to its banner and returns
// the URL in it; after 60 s the test fails with the server's stderr.
func waitBanner(t *testing.T, verb string, stdout io.Reader, stderr *syncBuffer) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start; stderr:\n%s", verb, stderr.String())
		return ""
	}
}

func (sp *serverProc) token(t *testing.T) string {
	t.Helper()
	return sp.secret(t, "admin.token")
}

// secret is the content of a secret the server wrote in its data
// directory at first start (admin.token, admin.password).
func (sp *serverProc) secret(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sp.dataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cli runs the binary against the server with the admin token.
func (sp *serverProc) cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	all := append([]string{"--server", sp.url, "--ca", filepath.Join(sp.dataDir, "ca.crt"), "--token", sp.token(t)}, args...)
	return run(t, all...)
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir() // so no ./patchbay-data fallback is picked up
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (sp *serverProc) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := sp.cli(t, args...)
	if err != nil {
		t.Fatalf("patchbay %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (sp *serverProc) enrollToken(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(sp.mustCLI(t, append([]string{"enroll-token", "create"}, args...)...))
}

// agentRun runs `patchbay agent --once` for an image root.
func (sp *serverProc) agentRun(t *testing.T, stateDir, root, token string) (string, error) {
	t.Helper()
	args := []string{"agent", "--server", sp.url, "--state-dir", stateDir, "--root", root, "--once"}
	if token != "" {
		args = append(args, "--enroll-token", token)
	}
	_, errOut, err := run(t, args...)
	return errOut, err
}

func (sp *serverProc) hosts(t *testing.T, args ...string) []api.Host {
	t.Helper()
	var hosts []api.Host
	if err := json.Unmarshal([]byte(sp.mustCLI(t, append([]string{"hosts", "list", "--all", "-o", "json"}, args...)...)), &hosts); err != nil {
		t.Fatal(err)
	}
	return hosts
}

type hostDetail struct {
	api.Host
	Packages []api.Package `json:"packages"`
}

func (sp *serverProc) show(t *testing.T, host string) hostDetail {
	t.Helper()
	var d hostDetail
	if err := json.Unmarshal([]byte(sp.mustCLI(t, "hosts", "show", host, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// ubuntuRoot makes a host image with the real Ubuntu 18.04 dpkg status.
func ubuntuRoot(t *testing.T, hostname string) string {
	t.Helper()
	root := t.TempDir()
	status, err := os.ReadFile("testdata/ubuntu-18.04.status")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/os-release":          "NAME=\"Ubuntu\"\nVERSION_ID=\"18.04\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 18.04.6 LTS\"\nVERSION_CODENAME=bionic\n",
		"etc/hostname":            hostname + "\n",
		"var/lib/dpkg/status":     string(status),
		"var/run/reboot-required": "*** System restart required ***\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func pkgVersion(d hostDetail, name string) string {
	for _, p := range d.Packages {
		if p.Name == name {
			return p.Version
		}
	}
	return ""
}

func metricValue(t *testing.T, sp *serverProc, series string) string {
	t.Helper()
	out, _ := sp.httpGet(t, "/metrics", sp.token(t), nil)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

func (sp *serverProc) tlsConfig(t *testing.T, cert *tls.Certificate) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(sp.dataDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

func (sp *serverProc) httpGet(t *testing.T, path, token string, cert *tls.Certificate) (string, int) {
	t.Helper()
	return sp.httpDo(t, "GET", path, token, cert, nil)
}

func (sp *serverProc) httpDo(t *testing.T, method, path, token string, cert *tls.Certificate, body io.Reader) (string, int) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: sp.tlsConfig(t, cert)}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(method, sp.url+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// agentCert loads an enrolled agent's client certificate from its state.
func agentCert(t *testing.T, stateDir string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(stateDir, "cert.pem"), filepath.Join(stateDir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// foreignCert is a client certificate from a CA the server does not know,
// naming the given host.
func foreignCert(t *testing.T, hostID string) tls.Certificate {
	t.Helper()
	ca, _, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.NewKey()
	csr, _ := pki.NewCSR(key, hostID)
	certPEM, _, err := ca.SignClient(csr, hostID, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(key)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
